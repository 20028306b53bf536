// A distributed result read in parts through a portal (Execute with a row limit, as pg-cursor and JDBC send it) comes straight from the
// shards' portals, part by part, instead of being kept whole on the coordinator (issue 17): the rows are those of
// a plain read, a closed cursor gives its connections back, a shard's error reaches the client, and a 1 GB result
// read in batches of 1,000 rows keeps the coordinator process under 300 MB of memory at its peak.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { RawClient } from '../helpers/raw-client.ts';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startCli, waitFor, waitForExit, type Watched } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-portal-'));
let port: number;
let w: Watched;
let cl: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  port = await freePort();
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn' }));
  w = await startCli(['start', '--workers', '1', '--config', path.join(dir, 'config.json')]);
  cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  cl.on('error', () => {});
  await cl.connect();
  await cl.query('CREATE TABLE big (id bigint PRIMARY KEY, body text)');
  await cl.query(`SELECT create_distributed_table('big', 'id', shard_count => 4, replication_factor => 1)`);
  await cl.query(`INSERT INTO big SELECT i, 'row ' || i FROM generate_series(1, 5000) i`);
}, 120_000);

afterAll(async () => {
  await cl?.end().catch(() => {});
  if (w) {
    w.child.kill('SIGTERM');
    await waitForExit(w).catch(() => w.child.kill('SIGKILL'));
  }
  pgs?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A cursor as pg-cursor drives one: Parse, Bind, then Execute with a row limit and Flush, until the portal is done. */
class RawCursor {
  static async open(sql: string): Promise<RawCursor> {
    const c = new RawCursor(await RawClient.connect(port));
    c.raw.write([serialize.parse({ text: sql }), serialize.bind({}), serialize.describe({ type: 'P' }), serialize.flush()]);
    await c.raw.until('rowDescription');
    return c;
  }

  done = false;
  private constructor(readonly raw: RawClient) {}

  /** The next part: the rows' text fields. An error from the node rejects. */
  async read(n: number): Promise<string[][]> {
    if (this.done) return [];
    this.raw.write([serialize.execute({ rows: n }), serialize.flush()]);
    for (;;) {
      const i = this.raw.messages.findIndex((m) => ['portalSuspended', 'commandComplete', 'error'].includes(m.name));
      if (i >= 0) {
        const got = this.raw.messages.splice(0, i + 1);
        const last = got[got.length - 1] as unknown as { name: string; code?: string; message?: string };
        if (last.name === 'error') throw Object.assign(new Error(last.message), { code: last.code });
        if (last.name === 'commandComplete') this.done = true;
        return got.filter((m) => m.name === 'dataRow').map((m) => (m as unknown as { fields: string[] }).fields);
      }
      await this.raw.until('__never__', 1, 50).catch((e: Error) => {
        if (!/timed out/.test(e.message)) throw e;
      });
    }
  }

  async close(): Promise<void> {
    this.raw.write([serialize.close({ type: 'P', name: '' }), serialize.sync()]);
    await this.raw.until('readyForQuery').catch(() => {});
    this.raw.end();
  }
}

async function readAll(sql: string, batch: number): Promise<{ rows: string[][]; batches: number }> {
  const cursor = await RawCursor.open(sql);
  const rows: string[][] = [];
  let batches = 0;
  for (;;) {
    const part = await cursor.read(batch);
    if (!part.length) break;
    batches++;
    rows.push(...part);
  }
  await cursor.close();
  return { rows, batches };
}

it('a cursor reads the rows of a plain read, part by part, and gives its connections back', async () => {
  const { rows, batches } = await readAll('SELECT id, body FROM big', 700);
  expect(batches).toBe(Math.ceil(5000 / 700));
  expect(rows.map((r) => Number(r[0])).sort((a, b) => a - b)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
  // A cursor closed half way, then the session goes on.
  const cursor = await RawCursor.open('SELECT id FROM big WHERE id % 2 = 0');
  expect(await cursor.read(10)).toHaveLength(10);
  await cursor.close();
  expect((await cl.query('SELECT count(*)::int AS n FROM big')).rows).toEqual([{ n: 5000 }]);
  // A shard's error reaches the client, and the session goes on.
  const bad = await RawCursor.open('SELECT id, 1 / (id - 4000) FROM big');
  await expect((async () => {
    for (;;) if (!(await bad.read(500)).length) break;
  })()).rejects.toMatchObject({ code: '22012' });
  await bad.close().catch(() => {});
  expect((await cl.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
});

it('an ORDER BY cursor reads the merged rows part by part, and a cursor closed half way gives its connections back', async () => {
  const { rows, batches } = await readAll('SELECT id, body FROM big ORDER BY id DESC', 900);
  expect(batches).toBe(Math.ceil(5000 / 900));
  expect(rows.map((r) => Number(r[0]))).toEqual(Array.from({ length: 5000 }, (_, i) => 5000 - i));
  expect((await readAll('SELECT body FROM big WHERE id > 100 ORDER BY id % 7, id LIMIT 20 OFFSET 5', 6)).rows.map((r) => r[0])).toEqual(
    Array.from({ length: 4900 }, (_, i) => i + 101).sort((a, b) => (a % 7) - (b % 7) || a - b).slice(5, 25).map((i) => `row ${i}`),
  );
  // More cursors closed half way than a pool has connections: each gave its own back.
  for (let i = 0; i < 25; i++) {
    const cursor = await RawCursor.open('SELECT id FROM big ORDER BY id');
    expect((await cursor.read(3)).map((r) => r[0])).toEqual(['1', '2', '3']);
    await cursor.close();
  }
  const bad = await RawCursor.open('SELECT id, 1 / (id - 4000) FROM big ORDER BY id');
  await expect((async () => {
    for (;;) if (!(await bad.read(500)).length) break;
  })()).rejects.toMatchObject({ code: '22012' });
  await bad.close().catch(() => {});
  expect((await cl.query('SELECT count(*)::int AS n FROM big')).rows).toEqual([{ n: 5000 }]);
});

/** Sends one JDBC-style round (extended messages ending in Sync) and returns its messages up to ReadyForQuery. */
async function round(raw: RawClient, frames: Buffer[]): Promise<Array<{ name: string; fields?: string[]; code?: string; status?: string; text?: string }>> {
  raw.write([...frames, serialize.sync()]);
  return (await raw.until('readyForQuery')) as never;
}
const exec = (text: string, portal = '', rows = 0) => [serialize.parse({ text }), serialize.bind({ portal }), serialize.execute({ portal, rows })];

it('inside a transaction block a cursor reads in parts from the shards, in the transaction, with other statements between its parts', async () => {
  // JDBC with a fetch size: BEGIN in the same round as the first Execute, a named portal, Sync after every part.
  // vecshard.work_mem far below the result: a portal kept whole on the coordinator fails with 53200.
  const raw = await RawClient.connect(port);
  try {
    await round(raw, exec("SET vecshard.work_mem = '64kB'"));
    await round(raw, [...exec('BEGIN'), ...exec("INSERT INTO big VALUES (6001, 'mine'), (6002, 'mine')")]);
    for (const order of ['', ' ORDER BY id']) {
      let got = await round(raw, [serialize.parse({ text: `SELECT id, body, repeat('x', 200) FROM big WHERE id % 3 <> 1${order}` }), serialize.bind({ portal: 'C_1' }), serialize.describe({ type: 'P', name: 'C_1' }), serialize.execute({ portal: 'C_1', rows: 250 })]);
      const ids: number[] = [];
      for (let part = 1; ; part++) {
        expect(got.find((m) => m.name === 'error')).toBeUndefined();
        expect(got.at(-1)!.status).toBe('T');
        ids.push(...got.filter((m) => m.name === 'dataRow').map((m) => Number(m.fields![0])));
        if (got.some((m) => m.name === 'commandComplete')) break;
        expect(got.some((m) => m.name === 'portalSuspended')).toBe(true);
        // Between parts, the client's other statements: a lookup, a write, a plain query.
        if (part === 3) {
          const between = await round(raw, [...exec('SELECT body FROM big WHERE id = 6001'), ...exec("UPDATE big SET body = 'changed' WHERE id = 6002"), ...exec('SELECT count(*) FROM big')]);
          expect(between.filter((m) => m.name === 'dataRow').map((m) => m.fields![0])).toEqual(['mine', '5002']);
        }
        got = await round(raw, [serialize.execute({ portal: 'C_1', rows: 250 })]);
      }
      const want = [...Array.from({ length: 5000 }, (_, i) => i + 1), 6001, 6002].filter((i) => i % 3 !== 1);
      expect(order ? ids : [...ids].sort((a, b) => a - b)).toEqual(want);
      await round(raw, [serialize.close({ type: 'P', name: 'C_1' })]);
    }
    // A shard's error in a part aborts the transaction, as on one node; ROLLBACK undoes the rows written in it.
    const bad = await round(raw, [serialize.parse({ text: 'SELECT id, 1 / (id - 4000) FROM big' }), serialize.bind({ portal: 'C_2' }), serialize.execute({ portal: 'C_2', rows: 3000 }), serialize.execute({ portal: 'C_2', rows: 3000 })]);
    expect(bad.find((m) => m.name === 'error')).toMatchObject({ code: '22012' });
    expect(bad.at(-1)!.status).toBe('E');
    await round(raw, exec('ROLLBACK'));
  } finally {
    raw.end();
  }
  expect((await cl.query('SELECT count(*)::int AS n FROM big WHERE id > 5000')).rows).toEqual([{ n: 0 }]);
  expect((await cl.query('SELECT count(*)::int AS n FROM big')).rows).toEqual([{ n: 5000 }]);
});

it('1 GB read through a portal in batches of 1,000 rows keeps the coordinator under 300 MB at its peak', async () => {
  // 1,000,000 rows of 1 kB, written straight into the shard tables (how they got there does not matter to a scan).
  const shards = (await cl.query('SELECT s.shard_name, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = $1', ['big'])).rows;
  await cl.query('TRUNCATE big');
  await Promise.all(
    shards.map((s, i) =>
      queryNode(pgs.servers[s.node_id], `INSERT INTO vecshard_shards.${s.shard_name} SELECT g, repeat(md5(g::text), 31) FROM generate_series(${i * 250_000 + 1}, ${(i + 1) * 250_000}) g`),
    ),
  );
  const peak = () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${w.child.pid}/status`, 'utf8'))![1]) * 1024;
  const before = peak();
  let rows = 0;
  let bytes = 0;
  const cursor = await RawCursor.open('SELECT id, body FROM big');
  for (;;) {
    const part = await cursor.read(1000);
    if (!part.length) break;
    rows += part.length;
    for (const r of part) bytes += r[1].length;
  }
  await cursor.close();
  const after = peak();
  console.log(`portal: ${rows} rows, ${(bytes / 1e9).toFixed(2)} GB read in batches of 1,000; coordinator peak RSS ${(before / 1048576).toFixed(0)} MB before, ${(after / 1048576).toFixed(0)} MB after`);
  expect(rows).toBe(1_000_000);
  expect(bytes).toBeGreaterThan(0.99e9);
  expect(after).toBeLessThan(300 * 1024 * 1024);
  // 400 MB of it in order: the coordinator's merge holds a batch per shard, not the answer.
  const sorted = await RawCursor.open('SELECT id, body FROM big ORDER BY id DESC LIMIT 400000');
  let next = 1_000_000;
  for (;;) {
    const part = await sorted.read(1000);
    if (!part.length) break;
    for (const r of part) if (Number(r[0]) !== next--) throw new Error(`row ${r[0]} out of order (expected ${next + 1})`);
  }
  await sorted.close();
  console.log(`sorted portal: coordinator peak RSS ${(peak() / 1048576).toFixed(0)} MB`);
  expect(next).toBe(600_000);
  expect(peak()).toBeLessThan(300 * 1024 * 1024);
  await waitFor('the coordinator to be idle', async () => (await cl.query('SELECT 1 AS x')).rows.length === 1);
}, 360_000);
