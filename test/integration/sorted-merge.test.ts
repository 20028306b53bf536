// ORDER BY across shards merged on the coordinator: keys of every type it orders itself (ints, numeric with NaN and
// infinities, floats with NaN and -0, dates and timestamps with infinities, bool, uuid, bytea, NULLs) in every
// direction, against one node, in order. Then what the merge is for: an ordered read far larger than what the home
// node's combine could take, and text keys (collations) still merged by Postgres.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { answer, startDifferential, type Differential } from '../helpers/differential.ts';

let d: Differential;

const COLUMNS = `(id int NOT NULL, i2 smallint, i8 bigint, n numeric, f8 float8, f4 real, d date, ts timestamp, tz timestamptz, b bool, u uuid, by bytea, t text)`;
// Values chosen to hit the edges: NULLs, NaN, ±Infinity, -0, negative numerics of every weight, years BC.
const ROWS = `SELECT g,
  CASE WHEN g % 11 = 0 THEN NULL ELSE (g * 7919 % 201 - 100)::smallint END,
  CASE WHEN g % 13 = 0 THEN NULL ELSE (g::bigint * 2654435761 % 1000003) * (CASE WHEN g % 2 = 0 THEN -1 ELSE 1 END) * 1000000000 END,
  (ARRAY['NaN','Infinity','-Infinity','0','-0.0001','12345678.9','-12345678.9','0.00001','100','99.999',NULL])[1 + g % 11]::numeric * CASE WHEN g % 5 = 0 THEN 1 ELSE (g % 17 - 8) END,
  (ARRAY['NaN','Infinity','-Infinity','0','-0','1e-300','-2.5','3.25',NULL])[1 + g % 9]::float8 + (g % 4),
  (g % 23 - 11)::real / 3,
  CASE WHEN g % 29 = 0 THEN 'infinity'::date WHEN g % 31 = 0 THEN '0044-03-15 BC'::date ELSE '2000-01-01'::date + (g * 37 % 4000 - 2000) END,
  CASE WHEN g % 19 = 0 THEN '-infinity'::timestamp ELSE '2024-03-10 12:00'::timestamp + (g * 7 % 500 - 250) * interval '37 minutes' END,
  '2024-11-03 05:30+00'::timestamptz + (g * 13 % 300 - 150) * interval '3 minutes',
  CASE WHEN g % 7 = 0 THEN NULL ELSE g % 3 = 0 END,
  md5(g::text)::uuid,
  CASE WHEN g % 10 = 0 THEN ''::bytea ELSE decode(substr(md5(g::text), 1, 1 + g % 6), 'escape') END,
  (ARRAY['b','B','a','é','e','Z',NULL])[1 + g % 7] || g % 5
  FROM generate_series(1, 600) g`;

beforeAll(async () => {
  d = await startDifferential();
  for (const cl of [d.vs, d.one]) {
    await cl.query(`CREATE TABLE m ${COLUMNS}`);
    await cl.query(`INSERT INTO m ${ROWS}`);
    await cl.query("SET TimeZone = 'America/New_York'");
  }
  await d.vs.query(`SELECT create_distributed_table('m', 'id', shard_count => 5)`);
}, 180_000);
afterAll(() => d?.close());

const KEYS = ['i2', 'i8', 'n', 'f8', 'f4', 'd', 'ts', 'tz', 'b', 'u', 'by', 'n + f4', 'abs(i2)', 'extract(epoch from tz)'];

it('orders every key type, direction and NULLs placement as one node does', async () => {
  const key = fc.record({ expr: fc.constantFrom(...KEYS), desc: fc.boolean(), nulls: fc.constantFrom('', ' NULLS FIRST', ' NULLS LAST') });
  const query = fc.record({
    keys: fc.array(key, { minLength: 1, maxLength: 3 }),
    limit: fc.option(fc.integer({ min: 0, max: 700 })),
    offset: fc.option(fc.integer({ min: 0, max: 300 })),
    shown: fc.constantFrom('id', 'id, n, tz', '*'),
  });
  await fc.assert(
    fc.asyncProperty(query, async ({ keys, limit, offset, shown }) => {
      // id last: a total order, so both sides must return the same rows in the same order.
      const order = [...keys.map((k) => `${k.expr}${k.desc ? ' DESC' : ''}${k.nulls}`), 'id'].join(', ');
      const sql = `SELECT ${shown} FROM m ORDER BY ${order}${limit !== null ? ` LIMIT ${limit}` : ''}${offset !== null ? ` OFFSET ${offset}` : ''}`;
      const [got, want] = [await answer(d.vs, sql), await answer(d.one, sql)];
      expect(got, sql).toEqual(want);
    }),
    { numRuns: 120, seed: process.env.VECSHARD_DIFF_SEED ? Number(process.env.VECSHARD_DIFF_SEED) : undefined },
  );
}, 120_000);

it('says which merge it uses, and leaves text keys to Postgres on the home node', async () => {
  const plan = async (sql: string) => (await d.vs.query(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
  expect(await plan('SELECT id FROM m ORDER BY n, id')).toMatch(/merged by the coordinator/);
  for (const sql of ['SELECT id, t FROM m ORDER BY t, id', 'SELECT id, t FROM m ORDER BY t DESC, i2 NULLS FIRST, id LIMIT 40', 'SELECT t FROM m ORDER BY t COLLATE "C", id']) {
    const [got, want] = [await answer(d.vs, sql), await answer(d.one, sql)];
    expect(got, sql).toEqual(want);
  }
});

it('reads an ordered answer far beyond what the home node could combine, in the extended protocol too', async () => {
  await d.vs.query('CREATE TABLE big (id bigint NOT NULL, v float8)');
  await d.vs.query(`SELECT create_distributed_table('big', 'id', shard_count => 4)`);
  // INSERT ... SELECT of many rows goes in parts: as one VALUES list it blocked the coordinator (in this process)
  // for 3 s, every session with it; a part failing undoes the parts before.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  expect((await d.vs.query('INSERT INTO big SELECT g, (g * 7919 % 100003) / 7.0 FROM generate_series(1, 120000) g')).rowCount).toBe(120000);
  lag.disable();
  expect(lag.max / 1e6).toBeLessThan(1000);
  await expect(d.vs.query('INSERT INTO big SELECT CASE WHEN g = 5000 THEN NULL ELSE g + 200000 END, 0 FROM generate_series(1, 6000) g')).rejects.toMatchObject({ code: '23502' });
  const back = await d.vs.query('INSERT INTO big SELECT g + 200000, -1 FROM generate_series(1, 4500) g RETURNING id');
  expect([back.command, back.rowCount, back.rows.length, new Set(back.rows.map((r) => r.id)).size]).toEqual(['INSERT', 4500, 4500, 4500]);
  expect((await d.vs.query('DELETE FROM big WHERE v = -1')).rowCount).toBe(4500);
  // 120,000 rows × 2 columns: the home node's combine refused more than 60,000 values.
  const r = await d.vs.query({ text: 'SELECT id, v FROM big ORDER BY v DESC, id', rowMode: 'array' });
  expect(r.rows).toHaveLength(120000);
  for (let i = 1; i < r.rows.length; i++) expect(r.rows[i - 1][1] > r.rows[i][1] || (r.rows[i - 1][1] === r.rows[i][1] && Number(r.rows[i - 1][0]) < Number(r.rows[i][0]))).toBe(true);
  const p = await d.vs.query({ text: 'SELECT id FROM big WHERE id > $1 ORDER BY id LIMIT $2 OFFSET 3', values: [100, 5], rowMode: 'array' });
  expect(p.rows.map((x) => Number(x[0]))).toEqual([104, 105, 106, 107, 108]);
  // A node error in the middle of the merge is the client's error, and the session goes on.
  await expect(d.vs.query('SELECT id, 1 / (id - 99999) FROM big ORDER BY id')).rejects.toMatchObject({ code: '22012' });
  expect((await d.vs.query('SELECT count(*)::int AS n FROM big')).rows[0].n).toBe(120000);
  await d.vs.query('BEGIN');
  expect((await d.vs.query({ text: 'SELECT id FROM big ORDER BY id DESC LIMIT 2', rowMode: 'array' })).rows).toEqual([['120000'], ['119999']]);
  await d.vs.query('COMMIT');
}, 120_000);
