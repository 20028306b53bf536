// Clustered sharding: rows on the shard of their nearest centroid, kNN routed to the nearest shards (probes), and
// exact pruning that equals brute force while visiting fewer shards.
import fc from 'fast-check';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { within } from '../helpers/wait.ts';
import { clustered, random, toSql } from '../../bench/data.ts';

type Metric = 'l2' | 'cosine' | 'ip';
const parseVector = (t: string) => t.slice(1, -1).split(',').map(Number);
const l2 = (a: number[], b: number[]) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));
const distance = (_: 'l2', a: number[], b: number[]) => l2(a, b);
const nearest = (_: 'l2', x: number[], cs: number[][]) => cs.reduce((best, c, i) => (l2(x, c) < l2(x, cs[best]) ? i : best), 0);

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs);
  db = new pg.Client(c.options());
  await db.connect();
  await db.query('CREATE EXTENSION IF NOT EXISTS vector');
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

async function copyRows(table: string, rows: number[][], firstId = 0): Promise<void> {
  const lines = (function* () {
    for (let i = 0; i < rows.length; i += 1000) yield rows.slice(i, i + 1000).map((r, j) => `${firstId + i + j}\t${toSql(r)}\n`).join('');
  })();
  await pipeline(Readable.from(lines), db.query(copyFrom(`COPY ${table} (id, embedding) FROM STDIN`)));
}

async function onNodes<T>(fn: (cl: pg.Client, node: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (const [i, s] of pgs.servers.entries()) {
    const cl = new pg.Client({ connectionString: s.url + '/postgres' });
    await cl.connect();
    out.push(await fn(cl, i));
    await cl.end();
  }
  return out;
}

it('200k x 64 in 16 clustered shards: rows on their nearest centroid; probes = 4 reaches recall@10 >= 0.95 visiting 25%', async () => {
  const data = clustered(200_000, 100, 64, 50, 7);
  await db.query('CREATE TABLE docs (id bigint, embedding vector(64))');
  await copyRows('docs', data.rows);
  await expect(db.query(`SELECT create_distributed_table('docs', 'embedding', distribution => 'clustered', shard_count => 300000)`)).rejects.toMatchObject({ code: '22023' });
  await db.query(`SELECT create_distributed_table('docs', 'embedding', distribution => 'clustered', shard_count => 16)`);
  expect((await db.query('SELECT count(*)::int AS n FROM docs')).rows).toEqual([{ n: 200_000 }]);

  // Every row sits on the shard of its nearest centroid, checked on the nodes themselves.
  const shards = (await db.query('SELECT shard_index, shard_name, centroid FROM vecshard.shards ORDER BY shard_index')).rows;
  const centroids = shards.map((s) => parseVector(s.centroid));
  let placed = 0;
  await onNodes(async (cl) => {
    for (const s of shards) {
      if ((await cl.query(`SELECT to_regclass('vecshard_shards.${s.shard_name}') IS NOT NULL AS ok`)).rows[0].ok !== true) continue;
      const rows = (await cl.query(`SELECT embedding::text AS e FROM vecshard_shards.${s.shard_name}`)).rows;
      for (const r of rows) expect(nearest('l2', parseVector(r.e), centroids)).toBe(s.shard_index);
      placed += rows.length;
    }
  });
  expect(placed).toBe(200_000 * 2); // two copies of each shard

  // Recall of probes = 4 against brute force over all rows.
  await db.query('SET vecshard.probes = 4');
  let hits = 0;
  for (const q of data.queries) {
    const truth = data.rows.map((r, id) => ({ id, d: distance('l2', q, r) })).sort((a, b) => a.d - b.d).slice(0, 10);
    const got = (await db.query(`SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 10`, [toSql(q)])).rows.map((r) => Number(r.id));
    const want = new Set(truth.map((t) => t.id));
    hits += got.filter((id) => want.has(id)).length;
  }
  const recall = hits / (10 * data.queries.length);
  console.log(`clustered 200k x 64, 16 shards, probes 4: recall@10 ${recall.toFixed(3)}`);
  expect(recall).toBeGreaterThanOrEqual(0.95);
  const plan = (await db.query(`EXPLAIN SELECT id FROM docs ORDER BY embedding <-> '${toSql(data.queries[0])}' LIMIT 10`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(plan).toMatch(/Shards visited: 4 of 16/);
  await db.query('SET vecshard.probes = all');
  const all = (await db.query(`EXPLAIN SELECT id FROM docs ORDER BY embedding <-> '${toSql(data.queries[0])}' LIMIT 10`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(all).toMatch(/Shards visited: 16 of 16/);
  await db.query('SET vecshard.probes = 0');
  await expect(db.query(`SELECT id FROM docs ORDER BY embedding <-> '${toSql(data.queries[0])}' LIMIT 10`)).rejects.toMatchObject({ code: '22023', message: expect.stringContaining('vecshard.probes') });
  await db.query('RESET vecshard.probes');
  await db.query('DROP TABLE docs');
}, 300_000);

it('exact pruning equals brute force for every metric, k 1-100, clustered and uniform data, visiting fewer shards', async () => {
  const metrics: Array<[Metric, string, string]> = [
    ['l2', '<->', 'vector_l2_ops'],
    ['cosine', '<=>', 'vector_cosine_ops'],
    ['ip', '<#>', 'vector_ip_ops'],
  ];
  const dim = 8;
  const mixture = clustered(3000, 0, dim, 24, 11).rows;
  const rand = random(5);
  const uniform = Array.from({ length: 3000 }, () => Array.from({ length: dim }, () => Number((rand() * 2 - 1).toFixed(3))));
  const visited: Record<string, number[]> = {};
  for (const [metric, op, opclass] of metrics) {
    for (const [kind, rows] of [
      ['clustered', mixture],
      ['uniform', uniform],
    ] as const) {
      const t = `p_${metric}_${kind}`;
      await db.query(`CREATE TABLE ${t} (id bigint, embedding vector(${dim}))`);
      await db.query(`CREATE TABLE ${t}_plain (id bigint, embedding vector(${dim}))`);
      await copyRows(t, rows);
      await copyRows(`${t}_plain`, rows);
      // The metric comes from the column's index opclass.
      await db.query(`CREATE INDEX ON ${t} USING hnsw (embedding ${opclass})`);
      await db.query(`SELECT create_distributed_table('${t}', 'embedding', distribution => 'clustered', shard_count => 16)`);
      expect((await db.query(`SELECT metric FROM vecshard.tables WHERE table_name = '${t}'`)).rows[0].metric).toBe(metric);
      await db.query('SET vecshard.exact = on');
      await db.query('SET vecshard.probes = 1');
      const seen: number[] = [];
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: rows.length - 1 }), fc.integer({ min: 1, max: 100 }), fc.double({ min: -0.2, max: 0.2, noNaN: true }), async (base, k, shift) => {
          // A query near a row of the set (clustered data's queries are near its clusters), shifted a little.
          const q = toSql(rows[base].map((x, i) => Number((x + (i % 2 ? shift : -shift)).toFixed(3))));
          const got = (await db.query(`SELECT id, embedding ${op} $1 AS d FROM ${t} ORDER BY embedding ${op} $1 LIMIT ${k}`, [q])).rows;
          const want = (await db.query(`SELECT id, embedding ${op} $1 AS d FROM ${t}_plain ORDER BY embedding ${op} $1 LIMIT ${k}`, [q])).rows;
          expect(got.map((r) => r.d)).toEqual(want.map((r) => r.d));
          const plan = (await db.query(`EXPLAIN ANALYZE SELECT id FROM ${t} ORDER BY embedding ${op} '${q}' LIMIT ${k}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
          seen.push(Number(/Shards visited: (\d+) of 16/.exec(plan)![1]));
        }),
        { numRuns: 40 },
      );
      visited[`${metric} ${kind}`] = seen;
      await db.query('RESET vecshard.exact');
      await db.query('RESET vecshard.probes');
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(Object.entries(visited).map(([k, v]) => `${k}: ${mean(v).toFixed(1)} of 16 shards visited on average`).join('\n'));
  for (const m of ['l2', 'cosine', 'ip']) expect(mean(visited[`${m} clustered`])).toBeLessThan(8);
}, 300_000);

it('grows a shard radius on insert and COPY so exact pruning still finds a far row; EXPLAIN names pruned shards with their bounds', async () => {
  // Two explicit centroids, rows tight around each; a row far from its centroid must widen that shard's radius.
  const rand = random(3);
  const rows = Array.from({ length: 400 }, (_, i) => [i % 2 ? 10 : 0, 0, 0, 0].map((x) => Number((x + (rand() - 0.5) * 0.2).toFixed(3))));
  await db.query('CREATE TABLE g (id bigint, embedding vector(4))');
  await copyRows('g', rows);
  await db.query(`SELECT create_distributed_table('g', 'embedding', distribution => 'clustered', centroids => '[[0,0,0,0],[10,0,0,0]]')`);
  await db.query('SET vecshard.exact = on');
  await db.query('SET vecshard.probes = 1');
  // [4,0,0,0] goes to the shard of [0,0,0,0]; from [6,0,0,0] it is the nearest row (2 away, the other shard's
  // rows are about 3.9 away), which only a radius grown to 4 keeps from being pruned.
  await db.query(`INSERT INTO g VALUES (99999, $1)`, ['[4,0,0,0]']);
  expect((await db.query(`SELECT id FROM g ORDER BY embedding <-> '[6,0,0,0]' LIMIT 1`)).rows).toEqual([{ id: '99999' }]);
  await pipeline(Readable.from([`99998\t[6,3,0,0]\n`]), db.query(copyFrom('COPY g (id, embedding) FROM STDIN')));
  expect((await db.query(`SELECT id FROM g ORDER BY embedding <-> '[4,3,0,0]' LIMIT 1`)).rows).toEqual([{ id: '99998' }]);
  const q = toSql(rows[0]);
  const plan = (await db.query(`EXPLAIN ANALYZE SELECT id FROM g ORDER BY embedding <-> '${q}' LIMIT 5`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(plan).toMatch(/Shards visited: 1 of 2 \(k-th distance [\d.e-]+\)/);
  expect(plan).toMatch(/Pruned: g_\d{4} \(lower bound [\d.e+-]+ > k-th distance [\d.e-]+\)/);
  const estimate = (await db.query(`EXPLAIN SELECT id FROM g ORDER BY embedding <-> '${q}' LIMIT 5`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(estimate).toMatch(/First round: g_\d{4}\n/);
  // An UPDATE that changes a vector moves the row to its new nearest centroid, in the same transaction.
  const where = async (id: number) =>
    (
      await onNodes(async (cl) => {
        const out: string[] = [];
        for (const s of ['g_0000', 'g_0001']) if ((await cl.query(`SELECT 1 FROM vecshard_shards.${s} WHERE id = ${id}`)).rows.length) out.push(s);
        return out.join(',');
      })
    ).join(' | ');
  expect(await where(0)).toBe('g_0000 | g_0000');
  expect((await db.query(`UPDATE g SET embedding = '[10,0.1,0,0]' WHERE id = 0`)).rowCount).toBe(1);
  expect(await where(0)).toBe('g_0001 | g_0001');
  await db.query('BEGIN');
  await db.query(`UPDATE g SET embedding = '[10,0.2,0,0]' WHERE id = 2`);
  expect((await db.query(`SELECT id FROM g ORDER BY embedding <-> '[10,0.2,0,0]' LIMIT 1`)).rows).toEqual([{ id: '2' }]);
  await db.query('ROLLBACK');
  expect(await where(2)).toBe('g_0000 | g_0000');
  // Staying on its shard but farther from the centroid: the radius grows, so exact pruning still finds it.
  await db.query(`UPDATE g SET embedding = '[-3,0,0,0]' WHERE id = 4`);
  expect(await where(4)).toBe('g_0000 | g_0000');
  expect((await db.query(`SELECT id FROM g ORDER BY embedding <-> '[-3.5,0,0,0]' LIMIT 1`)).rows).toEqual([{ id: '4' }]);
  expect((await db.query('SELECT count(*)::int AS n FROM g')).rows).toEqual([{ n: 402 }]);
  await expect(db.query(`UPDATE g SET embedding = '[1,1,1,1]' WHERE id = 6 RETURNING id`)).rejects.toMatchObject({ code: '0A000' });
  await db.query('RESET vecshard.exact');
  await db.query('RESET vecshard.probes');
  await expect(db.query(`INSERT INTO g VALUES (1, '[1,2]')`)).rejects.toMatchObject({ code: '22000' });
  await expect(db.query(`INSERT INTO g VALUES (1, NULL)`)).rejects.toMatchObject({ code: '23502' });
  await expect(db.query(`SELECT create_distributed_table('nope', 'embedding', distribution => 'sideways')`)).rejects.toMatchObject({ code: '0A000' });
});

it('recluster: new centroids from the data, rows moved to their nearest, exact answers throughout', async () => {
  const rand = random(9);
  const rows = Array.from({ length: 600 }, (_, i) => [i % 2 ? 20 : 0, i % 3, 0].map((x) => Number((x + (rand() - 0.5)).toFixed(3))));
  await db.query('CREATE TABLE d (id bigint, embedding vector(3))');
  await db.query('CREATE TABLE d_plain (id bigint, embedding vector(3))');
  await copyRows('d', rows);
  await copyRows('d_plain', rows);
  // Poor centroids: both near the first group, so the shards split it and share the second.
  await db.query(`SELECT create_distributed_table('d', 'embedding', distribution => 'clustered', centroids => '[[0,0,0],[0,2,0]]')`);
  await db.query('SET vecshard.exact = on');
  await db.query('SET vecshard.probes = 1');
  const check = async () => {
    for (const q of ['[20,1,0]', '[0,0,0]', '[10,1,0]']) {
      const got = (await db.query(`SELECT embedding <-> $1 AS d FROM d ORDER BY embedding <-> $1 LIMIT 7`, [q])).rows;
      const want = (await db.query(`SELECT embedding <-> $1 AS d FROM d_plain ORDER BY embedding <-> $1 LIMIT 7`, [q])).rows;
      expect(got).toEqual(want);
    }
  };
  await check();
  // A reader runs exact queries while the rows move.
  let stop = false;
  let answered!: () => void;
  const firstAnswer = new Promise<void>((r) => (answered = r));
  const reader = (async () => {
    const r = new pg.Client(c.options());
    await r.connect();
    await r.query('SET vecshard.exact = on');
    let n = 0;
    while (!stop) {
      expect((await r.query(`SELECT id FROM d ORDER BY embedding <-> '[20,0,0]' LIMIT 3`)).rows.length).toBe(3);
      n++;
      answered();
    }
    await r.end();
    return n;
  })();
  // The reader is running before the rows start to move (a fast recluster could otherwise finish first).
  await within('the reader to answer once', Promise.race([firstAnswer, reader]), 30_000);
  const moved = Number((await db.query(`SELECT vecshard.recluster('d')`)).rows[0].recluster);
  stop = true;
  expect(await within('the reader to stop', reader, 30_000)).toBeGreaterThan(0);
  expect(moved).toBeGreaterThan(0);
  await check();
  expect((await db.query('SELECT count(*)::int AS n FROM d')).rows).toEqual([{ n: 600 }]);
  // Now one shard per group: every row on its nearest centroid, and a query near a group visits one shard.
  const shards = (await db.query(`SELECT shard_index, shard_name, centroid FROM vecshard.shards WHERE table_name = 'd' ORDER BY shard_index`)).rows;
  const centroids = shards.map((s) => parseVector(s.centroid));
  expect(centroids.map((cv) => Math.round(cv[0] / 20)).sort()).toEqual([0, 1]);
  await onNodes(async (cl) => {
    for (const s of shards) {
      for (const r of (await cl.query(`SELECT embedding::text AS e FROM vecshard_shards.${s.shard_name}`)).rows) expect(nearest('l2', parseVector(r.e), centroids)).toBe(s.shard_index);
    }
  });
  const plan = (await db.query(`EXPLAIN ANALYZE SELECT id FROM d ORDER BY embedding <-> '[20,1,0]' LIMIT 5`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(plan).toMatch(/Shards visited: 1 of 2/);
  await db.query('RESET vecshard.exact');
  await db.query('RESET vecshard.probes');
  await expect(db.query(`SELECT vecshard.recluster('d_plain')`)).rejects.toMatchObject({ code: '42P01' });
}, 120_000);
