// Odd names and odd spellings never give a wrong answer: a table whose name has a double quote or a dot in it, a
// uuid written with braces or in capitals, a string that looks like vecshard's own SET (issue 17, finding 4).
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs);
  db = new pg.Client(c.options());
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

it('a table named with a doubled quote: rows go to its shards, not to the empty shell on node 0', async () => {
  await db.query(`CREATE TABLE "items""x" (id int, v text)`);
  await db.query(`SELECT create_distributed_table('"items""x"', 'id', shard_count => 4)`);
  // A plain statement that names no distributed table skips parsing: this one does name one.
  await db.query(`INSERT INTO "items""x" VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
  expect((await db.query(`SELECT count(*)::int AS n FROM "items""x"`)).rows).toEqual([{ n: 3 }]);
  expect((await db.query(`SELECT v FROM "items""x" WHERE id = 2`)).rows).toEqual([{ v: 'b' }]);
  expect(await queryNode(pgs.servers[0], `SELECT count(*)::int AS n FROM public."items""x"`)).toEqual([{ n: 0 }]);
});

it('a quoted table name with a dot in it is one name, not a schema and a table', async () => {
  await db.query(`CREATE TABLE "my.table" (id int, v text)`);
  await db.query(`SELECT create_distributed_table('"my.table"', 'id', shard_count => 2)`);
  await db.query(`INSERT INTO "my.table" VALUES (1, 'one'), (2, 'two')`);
  expect((await db.query(`SELECT v FROM "my.table" ORDER BY id`)).rows).toEqual([{ v: 'one' }, { v: 'two' }]);
  expect((await db.query(`SELECT table_name FROM vecshard.tables WHERE table_name = 'my.table'`)).rows).toEqual([{ table_name: 'my.table' }]);
  await expect(db.query(`SELECT create_distributed_table('a.b.c', 'id')`)).rejects.toMatchObject({ code: '42602' });
});

it('a uuid in braces, capitals or without hyphens routes to the same shard as its canonical form', async () => {
  await db.query('CREATE TABLE u (id uuid PRIMARY KEY, v int)');
  await db.query(`SELECT create_distributed_table('u', 'id', shard_count => 8)`);
  const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
  await db.query(`INSERT INTO u VALUES ('{${id}}', 1)`);
  await db.query(`INSERT INTO u VALUES ($1, 2)`, ['{b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}']);
  for (const spelling of [id, id.toUpperCase(), `{${id}}`, id.replace(/-/g, ''), 'a0eebc999c0b4ef8bb6d6bb9bd380a11'.replace(/(.{4})/g, '$1-').slice(0, -1)]) {
    expect((await db.query('SELECT v FROM u WHERE id = $1', [spelling])).rows, spelling).toEqual([{ v: 1 }]);
    expect((await db.query(`SELECT v FROM u WHERE id = '${spelling}'`)).rows, spelling).toEqual([{ v: 1 }]);
  }
  expect((await db.query(`SELECT v FROM u WHERE id = 'b0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'`)).rows).toEqual([{ v: 2 }]);
  await expect(db.query(`INSERT INTO u VALUES ('{${id}', 3)`)).rejects.toMatchObject({ code: '22P02' });
  expect((await db.query('SELECT count(*)::int AS n FROM u')).rows).toEqual([{ n: 2 }]);
});

it('a string that reads like SET vecshard.probes = all is left as it is', async () => {
  expect((await db.query(`SELECT 'SET vecshard.probes = all' AS s`)).rows).toEqual([{ s: 'SET vecshard.probes = all' }]);
  expect((await db.query(`SELECT $$x; SET vecshard.probes = all$$ AS s`)).rows).toEqual([{ s: 'x; SET vecshard.probes = all' }]);
  await db.query('SET vecshard.probes = all');
  expect((await db.query('SHOW vecshard.probes')).rows).toEqual([{ 'vecshard.probes': 'all' }]);
});

it('tables whose long names share their first 58 characters get shards, indexes and constraints of their own', async () => {
  const base = 'long_'.repeat(11) + 'abc'; // 58 characters
  for (const [t, k] of [[`${base}_one`, 1], [`${base}_two`, 2]] as const) {
    await db.query(`CREATE TABLE ${t} (id int, v text, CONSTRAINT ${base}_p${k} PRIMARY KEY (id))`);
    await db.query(`SELECT create_distributed_table('${t}', 'id', shard_count => 4)`);
    await db.query(`CREATE INDEX ${base}_i${k} ON ${t} (v)`);
    await db.query(`INSERT INTO ${t} VALUES (1, '${t}'), (2, 'x')`);
  }
  for (const t of [`${base}_one`, `${base}_two`]) expect((await db.query(`SELECT v FROM ${t} WHERE id = 1`)).rows).toEqual([{ v: t }]);
  const names = await queryNode(pgs.servers[0], `SELECT count(*)::int AS n, count(DISTINCT relname)::int AS d FROM pg_class WHERE relnamespace = 'vecshard_shards'::regnamespace AND relname LIKE 'long_long%'`);
  expect(names[0].n).toBe(names[0].d);
  expect(names[0].n).toBeGreaterThanOrEqual(12);
});

it("a client's settings are quoted safely whatever the previous client left standard_conforming_strings at", async () => {
  const a = new pg.Client(c.options());
  await a.connect();
  await a.query('SET standard_conforming_strings = off');
  await a.end();
  const evil = "x\\'); CREATE TABLE pwned (); --";
  const b = new pg.Client({ ...c.options(), application_name: evil });
  await b.connect();
  try {
    expect((await b.query('SHOW application_name')).rows[0].application_name).toBe(evil);
    expect(await queryNode(pgs.servers[0], `SELECT to_regclass('public.pwned') IS NULL AS safe`)).toEqual([{ safe: true }]);
  } finally {
    await b.end();
  }
});

it('a string equal to the placeholder vecshard names shards with is left as it is', async () => {
  await db.query('CREATE TABLE ph (id int, title text)');
  await db.query(`SELECT create_distributed_table('ph', 'id', shard_count => 3)`);
  const odd = 'vecshard_shard_placeholder';
  await db.query('INSERT INTO ph VALUES (1, $1), (2, $2)', [odd, `vecshard_shards.${odd}`]);
  expect((await db.query(`SELECT id FROM ph WHERE title = '${odd}'`)).rows).toEqual([{ id: 1 }]);
  expect((await db.query(`SELECT id, title FROM ph WHERE title LIKE '%${odd}' ORDER BY id`)).rows).toEqual([{ id: 1, title: odd }, { id: 2, title: `vecshard_shards.${odd}` }]);
  expect((await db.query(`SELECT count(*)::int AS n FROM ph WHERE title <> '${odd}'`)).rows).toEqual([{ n: 1 }]);
});
