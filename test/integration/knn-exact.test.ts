// With vecshard.exact = on, the merged kNN answer equals a brute-force scan of one unsharded table, for every
// operator and type, shard counts 1–8, k, OFFSET, ties and NULL vectors (fast-check picks the cases).
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let vs: pg.Client;
let ref: pg.Client;

const N = 150;
// Coordinates from a tiny set make many exact ties; a few rows have no vector at all.
function row(i: number) {
  const r = (k: number) => ((i * 7919 + k * 104729) % 5) - 2;
  const v = [r(1), r(2), r(3), r(4)];
  const bits = v.map((x) => (x > 0 ? '1' : '0')).join('') + (i % 2 ? '1010' : '0110');
  return { id: i, tenant: i % 3, v: i % 17 === 0 ? null : `[${v.join(',')}]`, bits: i % 19 === 0 ? null : bits };
}

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

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs);
  vs = new pg.Client(c.options());
  await vs.connect();
  ref = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await ref.connect();
  const rows = Array.from({ length: N }, (_, i) => row(i));
  const values = rows
    .map((r) => `(${r.id}, ${r.tenant}, ${r.v ? `'${r.v}'` : 'NULL'}, ${r.bits ? `B'${r.bits}'` : 'NULL'})`)
    .join(',');
  const ddl = (t: string) =>
    `CREATE TABLE ${t} (id int, tenant int, v vector(4), b bit(8), h halfvec(4) GENERATED ALWAYS AS (v::halfvec) STORED, s sparsevec(4) GENERATED ALWAYS AS (v::sparsevec) STORED, PRIMARY KEY (id))`;
  await ref.query(ddl('brute'));
  await ref.query(`INSERT INTO brute (id, tenant, v, b) VALUES ${values}`);
  for (let shards = 1; shards <= 8; shards++) {
    await vs.query(ddl(`items${shards}`));
    await vs.query(`SELECT create_distributed_table('items${shards}', 'id', shard_count => ${shards})`);
    await vs.query(`INSERT INTO items${shards} (id, tenant, v, b) VALUES ${values}`);
    if (shards % 2 === 0) await vs.query(`CREATE INDEX ON items${shards} USING hnsw (v vector_l2_ops)`);
  }
  await vs.query('SET vecshard.exact = on');
  await ref.query('SET enable_indexscan = off');
});

afterAll(async () => {
  await vs?.end();
  await ref?.end();
  await c?.close();
  pgs?.stopAll();
});

type Hit = { id: number; d: number | null };

/** Same answer up to ties: equal distance sequences, and equal ids wherever the distance is not tied at the cut. */
function sameUpToTies(got: Hit[], want: Hit[], all: Hit[]) {
  expect(got.map((h) => h.d)).toEqual(want.map((h) => h.d));
  const byDist = new Map<string, Set<number>>();
  for (const h of all) byDist.set(String(h.d), (byDist.get(String(h.d)) ?? new Set()).add(h.id));
  for (const h of got) expect(byDist.get(String(h.d))?.has(h.id)).toBe(true);
  expect(new Set(got.map((h) => h.id)).size).toBe(got.length);
}

describe('exact kNN through vecshard equals brute force', () => {
  it('for every operator and type, shard counts 1–8, k 1–50, OFFSET, WHERE, ties and NULLs', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
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
          const want = (await ref.query(sql('brute'), [1])).rows as Hit[];
          const all = (await ref.query(`SELECT id, ${cs.col} ${cs.op} ${qlit} AS d FROM brute ${where}`, [1])).rows as Hit[];
          sameUpToTies(got, want, all);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('in the simple query protocol too, with a parameter-free literal', async () => {
    const r = await vs.query(`SELECT id FROM items5 ORDER BY v <-> '[1,1,1,1]' LIMIT 7`);
    const b = await ref.query(`SELECT id, v <-> '[1,1,1,1]' AS d FROM brute ORDER BY v <-> '[1,1,1,1]' LIMIT 7`);
    expect(r.rows.length).toBe(7);
    const cut = b.rows[6].d;
    const sure = b.rows.filter((x) => x.d < cut).map((x) => x.id);
    for (const id of sure) expect(r.rows.map((x) => x.id)).toContain(id);
  });
});
