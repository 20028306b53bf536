// Distributed statements in the extended protocol are answered by the coordinator once described (issue 19): Parse,
// Bind, Describe and Close of a statement node 0 described before never reach node 0, so a routed lookup is one
// round trip to the node holding its shard. What the client sees must be what one plain node says: the same
// messages, parameter and row descriptions (formats included), rows and errors — first time and cached.
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RawClient } from '../helpers/raw-client.ts';
import { startPgServers, type PgServer } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: { servers: PgServer[]; stopAll(): void };
let c: TestCoordinator;
let vs: pg.Client;
let onePort: number;

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator({ servers: pgs.servers.slice(0, 2) });
  vs = new pg.Client(c.options());
  await vs.connect();
  const one = new pg.Client({ connectionString: pgs.servers[2].url + '/postgres' });
  await one.connect();
  for (const cl of [vs, one]) {
    await cl.query('CREATE TABLE docs (id int PRIMARY KEY, tenant int NOT NULL, title text, score float8)');
    await cl.query(`INSERT INTO docs SELECT g, g % 5, 'doc ' || g, g / 4.0 FROM generate_series(1, 200) g`);
  }
  await one.end();
  await vs.query(`SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 1)`);
  onePort = Number(new URL(pgs.servers[2].url).port);
}, 120_000);
afterAll(async () => {
  await vs?.end().catch(() => {});
  await c?.close();
  pgs?.stopAll();
});

interface Case {
  sql: string;
  types?: number[];
  values: Array<string | null>;
  binary?: boolean;
}

/** What a client sees of one exchange, without what differs between servers (table oids, column numbers). */
function seen(messages: Array<Record<string, any>>): string[] {
  return messages.map((m) => {
    switch (m.name) {
      case 'rowDescription':
        return `T ${m.fields.map((f: any) => `${f.name}:${f.dataTypeID}:${f.dataTypeModifier}:${f.format}`).join(',')}`;
      case 'parameterDescription':
        return `t ${m.dataTypeIDs.join(',')}`;
      case 'dataRow':
        return `D ${JSON.stringify(m.fields)}`;
      case 'commandComplete':
        return `C ${m.text}`;
      case 'error':
        return `E ${m.code}`;
      default:
        return m.name;
    }
  });
}

/** Parse (named), Describe it, then twice Bind, Describe the portal, Execute, Sync; then Close it. */
async function exchange(port: number, k: Case): Promise<string[]> {
  const raw = await RawClient.connect(port, undefined, undefined, port === onePort ? pgs.servers[2].password : undefined);
  try {
    const out: string[] = [];
    raw.write([serialize.parse({ name: 's1', text: k.sql, types: k.types ?? [] }), serialize.describe({ type: 'S', name: 's1' }), serialize.sync()]);
    out.push(...seen(await raw.until('readyForQuery')));
    for (let i = 0; i < 2; i++) {
      raw.write([serialize.bind({ statement: 's1', values: k.values, binary: k.binary }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]);
      out.push(...seen(await raw.until('readyForQuery')));
    }
    raw.write([serialize.close({ type: 'S', name: 's1' }), serialize.sync()]);
    out.push(...seen(await raw.until('readyForQuery')));
    return out;
  } finally {
    raw.end();
  }
}

const CASES: Case[] = [
  { sql: 'SELECT id, title FROM docs WHERE id = $1', values: ['7'] },
  { sql: 'SELECT * FROM docs WHERE id = $1 AND tenant = $2', values: ['12', '2'] },
  { sql: 'SELECT id, score FROM docs WHERE id = $1', values: ['9'], binary: true },
  { sql: 'SELECT id::text, title FROM docs WHERE id = $1::int', types: [25], values: ['33'] },
  { sql: 'SELECT count(*) FROM docs WHERE tenant = $1', values: ['3'] },
  { sql: 'SELECT id FROM docs WHERE tenant = $1 ORDER BY id LIMIT 3', values: ['4'] },
  { sql: 'UPDATE docs SET score = score + 0 WHERE id = $1 RETURNING id, title', values: ['40'] },
  { sql: 'DELETE FROM docs WHERE id = $1', values: ['100000'] },
  { sql: 'SELECT id FROM docs WHERE id = $1', values: ['1', '2'] }, // one value too many: 08P01
  { sql: 'SELECT id FROM docs WHERE id = $1', values: [null] },
];

it('answers Parse, Bind and Describe of distributed statements as one plain node does, first time and cached', async () => {
  for (const k of CASES) {
    const [got, want] = [await exchange(c.port, k), await exchange(onePort, k)];
    expect(got, k.sql).toEqual(want);
  }
  // An INSERT (NoData), run on both so the rows stay equal.
  const ins = { sql: 'INSERT INTO docs (id, tenant, title) VALUES ($1, $2, $3)', values: ['500', '1', 'new'] };
  const got = await exchange(c.port, ins);
  expect(got).toEqual(['parseComplete', 't 23,23,25', 'noData', 'readyForQuery', 'bindComplete', 'noData', 'C INSERT 0 1', 'readyForQuery', 'bindComplete', 'noData', 'E 23505', 'readyForQuery', 'closeComplete', 'readyForQuery']);
});

it('a value the column cannot take is refused, first time at Bind and cached at Execute, and the session goes on', async () => {
  for (let i = 0; i < 2; i++) {
    const raw = await RawClient.connect(c.port);
    raw.write([serialize.parse({ text: 'SELECT title FROM docs WHERE id = $1' }), serialize.bind({ values: ['nope'] }), serialize.execute({}), serialize.sync()]);
    const first = seen(await raw.until('readyForQuery'));
    expect(first, `round ${i}: ${first.join(' ')}`).toContain('E 22P02');
    raw.write([serialize.parse({ text: 'SELECT title FROM docs WHERE id = $1' }), serialize.bind({ values: ['5'] }), serialize.execute({}), serialize.sync()]);
    expect(seen(await raw.until('readyForQuery'))).toContain('D ["doc 5"]');
    raw.end();
  }
});

it('routes a binary parameter the client left untyped by the type the node gave it (a 4-byte text is not an int)', async () => {
  await vs.query('CREATE TABLE tags (name text PRIMARY KEY, n int)');
  await vs.query(`SELECT create_distributed_table('tags', 'name', shard_count => 4)`);
  await vs.query(`INSERT INTO tags SELECT 'w' || g, g FROM generate_series(1, 50) g UNION ALL SELECT 'abcd', 0`);
  const raw = await RawClient.connect(c.port);
  try {
    for (let i = 0; i < 3; i++) {
      // A Buffer goes in binary format.
      const bind = serialize.bind({ statement: 'bytag', values: [Buffer.from('abcd')] });
      raw.write([...(i === 0 ? [serialize.parse({ name: 'bytag', text: 'SELECT n FROM tags WHERE name = $1' })] : []), bind, serialize.execute({}), serialize.sync()]);
      const got = seen(await raw.until('readyForQuery'));
      expect(got, `execution ${i + 1}`).toContain('D ["0"]');
    }
  } finally {
    raw.end();
  }
});

it('routed lookups on another node go on answering while node 0 does not (no round trip to it)', async () => {
  // Ids whose shard is on node 1.
  const onNode1 = (await vs.query(`SELECT s.shard_name FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE p.node_id = 1`)).rows.map((r) => r.shard_name);
  expect(onNode1.length).toBeGreaterThan(0);
  const client = new pg.Client(c.options());
  await client.connect();
  const lookup = { name: 'lookup', text: 'SELECT title FROM docs WHERE id = $1' };
  const ids: number[] = [];
  for (let id = 1; ids.length < 20 && id <= 200; id++) {
    const plan = (await vs.query(`EXPLAIN SELECT title FROM docs WHERE id = ${id}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    if (onNode1.some((n) => plan.includes(n))) ids.push(id);
  }
  for (const id of ids) expect((await client.query({ ...lookup, values: [id] })).rows).toEqual([{ title: `doc ${id}` }]);
  pgs.servers[0].signal('SIGSTOP');
  let slowest = 0;
  try {
    for (const id of ids) {
      const t0 = performance.now();
      const r = await Promise.race([client.query({ ...lookup, values: [id] }), new Promise<never>((_, no) => setTimeout(() => no(new Error(`lookup of ${id} waited on node 0`)), 1500))]);
      slowest = Math.max(slowest, performance.now() - t0);
      expect(r.rows).toEqual([{ title: `doc ${id}` }]);
    }
  } finally {
    pgs.servers[0].signal('SIGCONT');
  }
  expect(slowest).toBeLessThan(1500);
  await client.end();
}, 60_000);

it('a routed lookup whose node stops answering is answered from another copy', async () => {
  await vs.query('CREATE TABLE docs2 (id int PRIMARY KEY, title text)');
  await vs.query(`SELECT create_distributed_table('docs2', 'id', shard_count => 4, replication_factor => 2)`);
  await vs.query(`INSERT INTO docs2 SELECT g, 'two ' || g FROM generate_series(1, 100) g`);
  const client = new pg.Client(c.options());
  await client.connect();
  const lookup = { name: 'lookup2', text: 'SELECT title FROM docs2 WHERE id = $1' };
  for (let id = 1; id <= 10; id++) expect((await client.query({ ...lookup, values: [id] })).rows).toEqual([{ title: `two ${id}` }]);
  pgs.servers[1].signal('SIGSTOP');
  try {
    for (let id = 11; id <= 40; id++) {
      const r = await Promise.race([client.query({ ...lookup, values: [id] }), new Promise<never>((_, no) => setTimeout(() => no(new Error(`lookup of ${id} unanswered`)), 5000))]);
      expect(r.rows).toEqual([{ title: `two ${id}` }]);
    }
  } finally {
    pgs.servers[1].signal('SIGCONT');
  }
  await client.end();
}, 60_000);
