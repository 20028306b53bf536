// With vecshard.exact = on, the merged kNN answer equals a brute-force scan of one unsharded table, for every
// operator and type, shard counts 1–8, k, OFFSET, ties and NULL vectors (fast-check picks the cases).
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, stopTestCoordinator } from '../helpers/coordinator.ts';

const CASES: Array<{ col: string; op: string; cast: string }> = [
  { col: 'v', op: '<->', cast: 'vector' },
  { col: 'v', op: '<#>', cast: 'vector' },
  { col: 'v', op: '<=>', cast: 'vector' },
  { col: 'v', op: '<+>', cast: 'vector' },
  { col: 'h', op: '<->', cast: 'halfvec' },
  { col: 'h', op: '<=>', cast: 'halfvec' },
  { col: 's', op: '<->', cast: 'sparsevec' },
  { col: 's', op: '<#>', cast: 'sparsevec' },
  { col: 'b', op: '<~>', cast: 'bit' },
  { col: 'b', op: '<%>', cast: 'bit' },
];

const N = 150;
// Coordinates from a tiny set make many exact ties; a few rows have no vector at all.
function row(i: number) {
  const r = (k: number) => ((i * 7919 + k * 104729) % 5) - 2;
  const v = [r(1), r(2), r(3), r(4)];
  const bits = v.map((x) => (x > 0 ? '1' : '0')).join('') + (i % 2 ? '1010' : '0110');
  return { id: i, tenant: i % 3, v: i % 17 === 0 ? null : `[${v.join(',')}]`, bits: i % 19 === 0 ? null : bits };
}

/**
 * Creates `brute` (a plain table on node 0, reached through vecshard's passthrough) and items1..itemsN
 * (distributed with 1..N shards) holding the same rows.
 */
async function load(vs: pg.Client, maxShards: number): Promise<void> {
  const values = Array.from({ length: N }, (_, i) => row(i))
    .map((r) => `(${r.id}, ${r.tenant}, ${r.v ? `'${r.v}'` : 'NULL'}, ${r.bits ? `B'${r.bits}'` : 'NULL'})`)
    .join(',');
  const ddl = (t: string) =>
    `CREATE TABLE ${t} (id int, tenant int, v vector(4), b bit(8), h halfvec(4) GENERATED ALWAYS AS (v::halfvec) STORED, s sparsevec(4) GENERATED ALWAYS AS (v::sparsevec) STORED, PRIMARY KEY (id))`;
  await vs.query('CREATE EXTENSION IF NOT EXISTS vector');
  await vs.query(ddl('brute'));
  await vs.query(`INSERT INTO brute (id, tenant, v, b) VALUES ${values}`);
  for (let shards = 1; shards <= maxShards; shards++) {
    await vs.query(ddl(`items${shards}`));
    await vs.query(`SELECT create_distributed_table('items${shards}', 'id', shard_count => ${shards})`);
    await vs.query(`INSERT INTO items${shards} (id, tenant, v, b) VALUES ${values}`);
    if (shards % 2 === 0) await vs.query(`CREATE INDEX ON items${shards} USING hnsw (v vector_l2_ops)`);
  }
  // Exact per-shard scans for vecshard; no index scans for the plain table either.
  await vs.query('SET vecshard.exact = on');
  await vs.query('SET enable_indexscan = off');
}

type Hit = { id: number; d: number | null };

/** Same answer up to ties: equal distance sequences, and equal ids wherever the distance is not tied at the cut. */
function sameUpToTies(got: Hit[], want: Hit[], all: Hit[]) {
  expect(got.map((h) => h.d)).toEqual(want.map((h) => h.d));
  const byDist = new Map<string, Set<number>>();
  for (const h of all) byDist.set(String(h.d), (byDist.get(String(h.d)) ?? new Set()).add(h.id));
  for (const h of got) expect(byDist.get(String(h.d))?.has(h.id)).toBe(true);
  expect(new Set(got.map((h) => h.id)).size).toBe(got.length);
}

function exactSuite(name: string, start: () => Promise<{ vs: pg.Client; stop: () => Promise<void> }>, maxShards: number, runs: number) {
  describe(name, () => {
    let vs: pg.Client;
    let stop: () => Promise<void>;
    beforeAll(async () => {
      ({ vs, stop } = await start());
      await load(vs, maxShards);
    });
    afterAll(async () => stop?.());

    it(`equals brute force for every operator and type, shard counts 1–${maxShards}, k 1–50, OFFSET, WHERE, ties and NULLs`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: maxShards }),
          fc.constantFrom(...CASES),
          fc.integer({ min: 1, max: 50 }),
          fc.integer({ min: 0, max: 20 }),
          fc.boolean(),
          fc.boolean(),
          fc.integer({ min: 0, max: N - 1 }),
          async (shards, cs, k, offset, filtered, desc, qi) => {
            const q = cs.cast === 'bit' ? (row(qi).bits ?? '10101010') : (row(qi).v ?? '[1,0,0,1]');
            const qlit = cs.cast === 'bit' ? `B'${q}'` : `'${q}'::vector::${cs.cast}`;
            const where = filtered ? 'WHERE tenant = $1' : 'WHERE $1::int IS NOT NULL';
            const dir = desc ? ' DESC' : '';
            const sql = (t: string) => `SELECT id, ${cs.col} ${cs.op} ${qlit} AS d FROM ${t} ${where} ORDER BY ${cs.col} ${cs.op} ${qlit}${dir} LIMIT ${k} OFFSET ${offset}`;
            const got = (await vs.query(sql(`items${shards}`), [1])).rows as Hit[];
            const want = (await vs.query(sql('brute'), [1])).rows as Hit[];
            const all = (await vs.query(`SELECT id, ${cs.col} ${cs.op} ${qlit} AS d FROM brute ${where}`, [1])).rows as Hit[];
            sameUpToTies(got, want, all);
          },
        ),
        { numRuns: runs },
      );
    });

    it('in the simple query protocol too', async () => {
      const r = await vs.query(`SELECT id FROM items${maxShards} ORDER BY v <-> '[1,1,1,1]' LIMIT 7`);
      const b = await vs.query(`SELECT id, v <-> '[1,1,1,1]' AS d FROM brute ORDER BY v <-> '[1,1,1,1]' LIMIT 7`);
      expect(r.rows.length).toBe(7);
      const cut = b.rows[6].d;
      for (const id of b.rows.filter((x) => x.d < cut).map((x) => x.id)) expect(r.rows.map((x) => x.id)).toContain(id);
    });
  });
}

exactSuite(
  'exact kNN on real PostgreSQL nodes',
  async () => {
    const pgs = await startPgServers(3);
    const c = await startTestCoordinator(pgs);
    const vs = new pg.Client(c.options());
    await vs.connect();
    return { vs, stop: async () => { await vs.end(); await c.close(); pgs.stopAll(); } };
  },
  8,
  150,
);

exactSuite(
  'exact kNN on embedded nodes',
  async () => {
    const c = await startTestCoordinator({ embedded: 3 });
    const vs = new pg.Client(c.options());
    await vs.connect();
    return { vs, stop: async () => { await vs.end(); await stopTestCoordinator(c); } };
  },
  4,
  40,
);
