// Two coordinator processes in front of the same nodes (issue 18): a table distributed or changed through one is
// seen as such by the other at its next statement (catalog changes are announced with NOTIFY when they commit; the
// other drops its cached catalog and what it prepared from it), and both answer kNN exactly as one node does.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers, freePort, queryNode } from '../helpers/pg-nodes.ts';
import { startCli, waitForExit, type Watched } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-two-'));
const procs: Watched[] = [];
const clients: pg.Client[] = [];

async function coordinator(): Promise<pg.Client> {
  const port = await freePort();
  const file = path.join(dir, `c${procs.length}.json`);
  fs.writeFileSync(file, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn' }));
  procs.push(await startCli(['start', '--config', file]));
  const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  cl.on('error', () => {});
  await cl.connect();
  clients.push(cl);
  return cl;
}

let one: pg.Client;
let two: pg.Client;
beforeAll(async () => {
  pgs = await startPgServers(2);
  one = await coordinator();
  two = await coordinator();
}, 120_000);
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => {});
  for (const p of procs) {
    p.child.kill('SIGTERM');
    await waitForExit(p).catch(() => p.child.kill('SIGKILL'));
  }
  pgs?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('a table distributed through one coordinator is read as distributed through the other at once', async () => {
  await one.query('CREATE EXTENSION IF NOT EXISTS vector');
  await one.query('CREATE TABLE items (id int PRIMARY KEY, v vector(3))');
  await one.query(`INSERT INTO items SELECT g, ARRAY[cos(g), sin(g), g / 100.0]::vector FROM generate_series(1, 300) g`);
  // The other coordinator has loaded the catalog (items is a plain table to it).
  expect((await two.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 300 }]);
  await one.query(`SELECT create_distributed_table('items', 'id', shard_count => 4)`);
  // Its rows moved into the shards: read as a plain table, node 0's shell would say 0.
  expect((await two.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 300 }]);
  expect((await two.query({ text: 'SELECT v::text FROM items WHERE id = $1', values: [7] })).rows).toHaveLength(1);
});

it('DDL through one is seen by the next statement through the other, prepared statements included', async () => {
  const lookup = { name: 'lookup', text: 'SELECT * FROM items WHERE id = $1' };
  expect(Object.keys((await two.query({ ...lookup, values: [5] })).rows[0])).toEqual(['id', 'v']);
  await one.query('ALTER TABLE items ADD COLUMN tag int DEFAULT 7');
  expect((await two.query('SELECT tag FROM items WHERE id = 5')).rows).toEqual([{ tag: 7 }]);
  const fresh = { name: 'lookup2', text: 'SELECT * FROM items WHERE id = $1' };
  expect((await two.query({ ...fresh, values: [5] })).rows[0]).toMatchObject({ id: 5, tag: 7 });
  await one.query('CREATE INDEX ON items USING hnsw (v vector_l2_ops)');
  await two.query('UPDATE items SET tag = 8 WHERE id = 5');
  expect((await one.query('SELECT tag FROM items WHERE id = 5')).rows).toEqual([{ tag: 8 }]);
});

it('both answer exact kNN as a brute-force scan does, while both write', async () => {
  await Promise.all([
    one.query(`INSERT INTO items (id, v) SELECT g, ARRAY[cos(g), sin(g), g / 100.0]::vector FROM generate_series(301, 400) g`),
    two.query(`INSERT INTO items (id, v) SELECT g, ARRAY[cos(g), sin(g), g / 100.0]::vector FROM generate_series(401, 500) g`),
  ]);
  const q = '[0.5,0.5,2]';
  const brute = (await one.query(`SELECT id FROM (SELECT id, v <-> '${q}' AS d FROM items ORDER BY id) s ORDER BY d, id LIMIT 10`)).rows.map((r) => r.id);
  for (const cl of [one, two]) {
    await cl.query('SET vecshard.exact = on');
    expect((await cl.query(`SELECT id FROM items ORDER BY v <-> '${q}' LIMIT 10`)).rows.map((r) => r.id)).toEqual(brute);
  }
  expect((await two.query('SELECT count(*)::int AS n FROM items')).rows).toEqual([{ n: 500 }]);
});

it('a shard another coordinator is moving or repairing is waited for (an advisory lock on the home node)', async () => {
  await one.query('CREATE TABLE solo (id int PRIMARY KEY)');
  await one.query(`SELECT create_distributed_table('solo', 'id', shard_count => 2, replication_factor => 1)`);
  await one.query('INSERT INTO solo SELECT generate_series(1, 100)');
  const [shard] = (await one.query(`SELECT s.shard_id, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'solo' ORDER BY 1 LIMIT 1`)).rows;
  const target = 1 - shard.node_id;
  // Another coordinator's move of this shard holds it: this one's move waits, then goes.
  const holder = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await holder.connect();
  await holder.query(`SELECT pg_advisory_lock(${0x7673}, $1)`, [shard.shard_id]);
  let done = false;
  const move = one.query('SELECT vecshard.move_shard_placement($1, $2, $3)', [shard.shard_id, shard.node_id, target]).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 1500));
  expect(done, 'the move waited for the shard').toBe(false);
  await holder.query(`SELECT pg_advisory_unlock(${0x7673}, $1)`, [shard.shard_id]);
  await move;
  await holder.end();
  expect((await one.query('SELECT node_id FROM vecshard.placements WHERE shard_id = $1', [shard.shard_id])).rows).toEqual([{ node_id: target }]);
  expect((await two.query('SELECT count(*)::int AS n FROM solo')).rows).toEqual([{ n: 100 }]);
});

it("a write through one coordinator waits while another holds its shard for a repair or move (then goes on)", async () => {
  const [shard] = (await one.query(`SELECT s.shard_id, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'solo' ORDER BY 1 LIMIT 1`)).rows;
  const ids = (await one.query({ text: 'SELECT id FROM solo', rowMode: 'array' })).rows.map((r) => r[0]);
  // A key of that shard: EXPLAIN names the shard a routed statement goes to.
  const name = await shardName(shard.shard_id);
  let key = 0;
  for (let k = 1000; !key; k++) if ((await one.query(`EXPLAIN INSERT INTO solo VALUES (${k})`)).rows.some((r) => String(r['QUERY PLAN']).includes(name))) key = k;
  const holder = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await holder.connect();
  await holder.query(`SELECT pg_advisory_lock(${0x7673}, $1)`, [shard.shard_id]);
  let done = false;
  const write = two.query(`INSERT INTO solo VALUES (${key})`).then(() => (done = true));
  await new Promise((r) => setTimeout(r, 1500));
  expect(done, 'the write waited for the shard').toBe(false);
  await holder.query(`SELECT pg_advisory_unlock(${0x7673}, $1)`, [shard.shard_id]);
  await write;
  await holder.end();
  expect((await one.query('SELECT count(*)::int AS n FROM solo')).rows).toEqual([{ n: ids.length + 1 }]);
});

async function shardName(id: number): Promise<string> {
  return (await one.query('SELECT shard_name FROM vecshard.shards WHERE shard_id = $1', [id])).rows[0].shard_name;
}

const copyOf = async (i: number) => {
  const c = new pg.Client({ connectionString: pgs.servers[i].url + '/postgres' });
  await c.connect();
  try {
    return (
      await c.query(`SELECT s.version, s.digest, vecshard.catalog_digest() AS actual,
                            (SELECT string_agg(table_name, ',' ORDER BY table_name) FROM vecshard.tables) AS tables,
                            (SELECT string_agg(shard_id || ':' || node_id, ',' ORDER BY shard_id, node_id) FROM vecshard.placements) AS placements
                       FROM vecshard.catalog_state s`)
    ).rows[0];
  } finally {
    await c.end();
  }
};

it('catalog changes through both coordinators at once leave every copy equal, and a copy that differs at the same version is mended', async () => {
  await one.query('CREATE TABLE many (id int PRIMARY KEY)');
  await one.query(`SELECT create_distributed_table('many', 'id', shard_count => 8, replication_factor => 1)`);
  const shards = (await one.query(`SELECT s.shard_id, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'many' ORDER BY 1`)).rows;
  // Every shard moves to the other node, half through each coordinator, all at once.
  await Promise.all(shards.map((s, i) => (i % 2 ? one : two).query('SELECT vecshard.move_shard_placement($1, $2, $3)', [s.shard_id, s.node_id, 1 - s.node_id])));
  const [a, b] = [await copyOf(0), await copyOf(1)];
  expect(b).toEqual(a);
  expect(a.digest).toBe(a.actual);
  for (const s of shards) expect(a.placements).toContain(`${s.shard_id}:${1 - s.node_id}`);

  // Node 1's copy takes a change node 0's never had, at the same version (as if two writers had raced).
  const raw = new pg.Client({ connectionString: pgs.servers[1].url + '/postgres' });
  await raw.connect();
  await raw.query(`INSERT INTO vecshard.tables (schema_name, table_name, method, dist_column, dist_type, shard_count) VALUES ('public', 'ghost', 'hash', 'id', 'int4', 1)`);
  await raw.query('UPDATE vecshard.catalog_state SET digest = vecshard.catalog_digest()');
  await raw.end();
  expect((await copyOf(1)).version).toBe((await copyOf(0)).version);
  // The next change finds the copies differ and makes node 1's equal to node 0's (the lowest node) first.
  await one.query('SELECT vecshard.move_shard_placement($1, $2, $3)', [shards[0].shard_id, 1 - shards[0].node_id, shards[0].node_id]);
  const [c, d] = [await copyOf(0), await copyOf(1)];
  expect(d).toEqual(c);
  expect(c.tables).not.toContain('ghost');
  expect(Number(c.version)).toBeGreaterThan(Number(a.version));
});

it('DDL through both coordinators at once reaches every shard; a rebalance through one loses none of the writes through the other', async () => {
  await one.query('CREATE TABLE wide (id int PRIMARY KEY, v vector(3))');
  await one.query(`SELECT create_distributed_table('wide', 'id', shard_count => 4, replication_factor => 1)`);
  await Promise.all([one.query('ALTER TABLE wide ADD COLUMN a int'), two.query('ALTER TABLE wide ADD COLUMN b text'), two.query('CREATE INDEX wide_v ON wide USING hnsw (v vector_l2_ops)')]);
  await one.query(`INSERT INTO wide (id, v, a, b) VALUES (1, '[1,1,1]', 1, 'x')`);
  await two.query(`INSERT INTO wide (id, v, a, b) VALUES (2, '[2,2,2]', 2, 'y')`);
  const shards = new Map<string, string>();
  for (const i of [0, 1]) {
    for (const r of await queryNode(
      pgs.servers[i],
      `SELECT c.relname, (SELECT string_agg(attname, ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS cols,
              (SELECT count(*)::int FROM pg_index x JOIN pg_class ix ON ix.oid = x.indexrelid JOIN pg_am am ON am.oid = ix.relam WHERE x.indrelid = c.oid AND am.amname = 'hnsw') AS hnsw
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'vecshard_shards' AND c.relname LIKE 'wide%' AND c.relkind = 'r'`,
    )) shards.set(r.relname, `${r.cols}:${r.hnsw}`);
  }
  expect([...shards.values()]).toEqual(Array(4).fill(expect.stringMatching(/^id,v,(a,b|b,a):1$/)));

  // Every shard onto node 0 (through one), then a rebalance through two while one writes.
  for (const s of (await one.query(`SELECT p.shard_id FROM vecshard.placements p JOIN vecshard.shards s USING (shard_id) WHERE s.table_name = 'wide' AND p.node_id = 1`)).rows) {
    await one.query('SELECT vecshard.move_shard_placement($1, 1, 0)', [s.shard_id]);
  }
  let stop = false;
  let acked = 2;
  const writer = (async () => {
    for (let id = 100; !stop; id++) {
      await one.query('INSERT INTO wide (id, v, a) VALUES ($1, $2, $1)', [id, `[${id},0,0]`]);
      acked++;
    }
  })();
  const [moved] = Object.values((await two.query('SELECT vecshard.rebalance()')).rows[0]);
  stop = true;
  await writer;
  expect(Number(moved)).toBeGreaterThan(0);
  // The database's copies are even again (rebalance evens all its tables' copies, not one table's).
  const [n0, n1] = (await two.query(`SELECT count(*)::int AS n FROM vecshard.placements GROUP BY node_id ORDER BY node_id`)).rows.map((r) => r.n);
  expect(Math.abs(n0 - n1)).toBeLessThanOrEqual(1);
  expect((await two.query('SELECT count(*)::int AS n FROM wide')).rows).toEqual([{ n: acked }]);
  expect(acked).toBeGreaterThan(2);
});
