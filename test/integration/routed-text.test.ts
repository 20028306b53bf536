// The simple protocol's routed lane: a Query seen before as a read of one shard picked by a literal goes straight
// to that shard with its new literals, without a parse or a plan. Its answers must be one node's for every value —
// keys of several types, strings with quotes, shapes where another literal also picks a shard or none routes —
// and a shape is learnt only from a plan that really is one routed read.
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDifferential, type Differential } from '../helpers/differential.ts';
import { routeMemory } from '../../src/wire/routed-text.ts';

let d: Differential;

beforeAll(async () => {
  d = await startDifferential();
  for (const cl of [d.vs, d.one]) {
    await cl.query('CREATE TABLE acc (aid int PRIMARY KEY, bid int, note text)');
    await cl.query('CREATE TABLE named (k text PRIMARY KEY, n int)');
    await cl.query('CREATE TABLE big8 (id bigint PRIMARY KEY, v int)');
  }
  await d.vs.query(`SELECT create_distributed_table('acc', 'aid', shard_count => 4)`);
  await d.vs.query(`SELECT create_distributed_table('named', 'k', shard_count => 3)`);
  await d.vs.query(`SELECT create_distributed_table('big8', 'id', shard_count => 1)`);
  for (const cl of [d.vs, d.one]) {
    await cl.query(`INSERT INTO acc SELECT g, g % 10, 'note ' || g FROM generate_series(1, 300) g`);
    await cl.query(`INSERT INTO named SELECT 'k' || g || CASE WHEN g % 5 = 0 THEN '''q' ELSE '' END, g FROM generate_series(1, 60) g`);
    await cl.query(`INSERT INTO big8 SELECT g::bigint * 1000000000, g FROM generate_series(1, 20) g`);
  }
}, 120_000);
afterAll(() => d?.close());

async function routerCount(): Promise<number> {
  const text = await d.c.cluster.metrics.text();
  return Number(/vecshard_statements_total\{kind="router"\} (\d+)/.exec(text)?.[1] ?? 0);
}

const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
const SHAPES: Array<(a: number, b: number) => string> = [
  (a) => `SELECT bid, note FROM acc WHERE aid = ${a};`,
  (a, b) => `SELECT aid, note FROM acc WHERE aid = ${a} AND bid = ${b % 10}`,
  (a, b) => `SELECT aid FROM acc WHERE bid = ${b % 10} AND aid = ${a}`,
  (a, b) => `SELECT aid, ${b} AS b FROM acc WHERE aid = ${a} LIMIT 1`,
  (a) => `SELECT aid FROM acc WHERE aid IN (${a})`,
  (a, b) => `SELECT aid FROM acc WHERE aid = ${a} OR aid = ${b}`,
  (a) => `SELECT count(*) FROM acc WHERE aid = ${a}`,
  (a) => `SELECT aid FROM acc WHERE aid = -${a}`,
  (a) => `SELECT n FROM named WHERE k = ${quote(`k${a % 70}${a % 5 === 0 ? "'q" : ''}`)}`,
  (a) => `SELECT n FROM named WHERE k = 'k${a % 70}' || ''`,
  (a, b) => `SELECT v FROM big8 WHERE id = ${(a % 25) * 1000000000} AND v > ${b % 3}`,
  (a) => `SELECT aid FROM acc WHERE aid = ${a}.0`,
  (a) => `SELECT aid FROM acc WHERE aid = '${a}'`,
];

it('answers as one node does for every value of every shape, most of them without a plan', async () => {
  const before = await routerCount();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: SHAPES.length - 1 }), fc.integer({ min: 0, max: 320 }), fc.integer({ min: 0, max: 320 }), async (i, a, b) => {
      const sql = SHAPES[i](a, b);
      const [got, want] = await Promise.all([d.vs.query({ text: sql, rowMode: 'array' }), d.one.query({ text: sql, rowMode: 'array' })]);
      expect(got.rows.map((r) => JSON.stringify(r)).sort(), sql).toEqual(want.rows.map((r) => JSON.stringify(r)).sort());
      // The extended protocol's unnamed statement on the same node connections, between them.
      const p = await d.vs.query('SELECT note FROM acc WHERE aid = $1', [b]);
      expect(p.rows).toEqual(b >= 1 && b <= 300 ? [{ note: `note ${b}` }] : []);
    }),
    { numRuns: 600, seed: Number(process.env.VECSHARD_DIFF_SEED ?? Date.now() % 2 ** 31) },
  );
  // Each routed shape is planned a few times at most; the rest took the lane.
  expect((await routerCount()) - before).toBeGreaterThan(150);
});

it('keeps what it learns within a byte budget, however long the texts (each of these is a shape of its own)', async () => {
  for (let i = 0; i < 160; i++) {
    const sql = `SELECT bid FROM acc WHERE aid = ${1 + (i % 300)}${' '.repeat(60_000 + i)}`;
    // The second run of each takes the lane when its shape is still kept.
    for (let k = 0; k < 2; k++) expect((await d.vs.query(sql)).rows).toEqual([{ bid: (1 + (i % 300)) % 10 }]);
  }
  const m = routeMemory();
  expect(m.routes).toBeGreaterThan(50);
  expect(m.bytes).toBeLessThanOrEqual(8 * 1024 * 1024 + 2 * 64 * 1024);
});

it('a shard error, a bad value and a changed table are answered as by the general path', async () => {
  const sql = (a: string) => `SELECT bid, 1 / (bid - bid) FROM acc WHERE aid = ${a}`;
  await expect(d.vs.query(sql('5'))).rejects.toMatchObject({ code: '22012' });
  await expect(d.vs.query(sql('6'))).rejects.toMatchObject({ code: '22012' });
  // A number the column cannot hold matches no row, as on Postgres; a string it cannot read is 22P02.
  for (const a of ['99999999999', '99999999998', '5.5', '6.5']) expect((await d.vs.query(`SELECT bid FROM acc WHERE aid = ${a}`)).rows).toEqual([]);
  for (const a of ["'nope'", "'nah'"]) await expect(d.vs.query(`SELECT bid FROM acc WHERE aid = ${a}`)).rejects.toMatchObject({ code: '22P02' });
  expect((await d.vs.query('SELECT bid FROM acc WHERE aid = 7')).rows).toEqual([{ bid: 7 }]);
  await d.vs.query('ALTER TABLE acc ADD COLUMN extra int DEFAULT 3');
  expect((await d.vs.query('SELECT * FROM acc WHERE aid = 8')).rows).toEqual([{ aid: 8, bid: 8, note: 'note 8', extra: 3 }]);
  expect((await d.vs.query('SELECT * FROM acc WHERE aid = 9')).rows).toEqual([{ aid: 9, bid: 9, note: 'note 9', extra: 3 }]);
});
