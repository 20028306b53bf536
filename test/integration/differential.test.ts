// One node is the truth: the same schema and rows as plain tables on one PostgreSQL server and as distributed
// tables through vecshard — hash with 2 copies, reference, clustered — then (a) a corpus of statements, each run
// against every kind of table, and (b) SELECTs generated at random (fast-check; a failing seed is printed and can
// be replayed with VECSHARD_DIFF_SEED). Each answer must equal one node's: as a multiset, in order where the query
// orders by a unique key; kNN in exact mode.
import fc from 'fast-check';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compare as compareOn, startDifferential, type Differential } from '../helpers/differential.ts';

let d: Differential;
let vs: pg.Client;
let one: pg.Client;

/** The three kinds of distributed table, each holding the same rows. */
const KINDS = ['h', 'r', 'c'] as const;
const COLUMNS = '(id int NOT NULL, grp int, cat text, score numeric(8,2), embedding vector(3))';
const ROWS = `SELECT g, g % 7, (ARRAY['red','green','blue','teal'])[1 + g % 4] || CASE WHEN g % 9 = 0 THEN NULL ELSE '' END, round((g * 37 % 101) / 3.0, 2),
  ('[' || round(cos(g)::numeric, 5) || ',' || round(sin(g)::numeric, 5) || ',' || round((g / 150.0)::numeric, 5) || ']')::vector FROM generate_series(1, 150) g`;

beforeAll(async () => {
  d = await startDifferential();
  ({ vs, one } = d);
  for (const cl of [vs, one]) {
    for (const k of [...KINDS, 'h2']) await cl.query(`CREATE TABLE ${k} ${COLUMNS}`);
    await cl.query('CREATE TABLE tags (id int PRIMARY KEY, name text)');
    await cl.query('CREATE TABLE plain (grp int, label text)');
  }
  await vs.query(`SELECT create_distributed_table('h', 'id', shard_count => 4)`);
  await vs.query(`SELECT create_distributed_table('h2', 'id', shard_count => 4)`);
  await vs.query(`SELECT create_reference_table('r')`);
  // Clustered tables are placed by their vectors: rows first, so the centroids come from them.
  await vs.query(`INSERT INTO c ${ROWS}`);
  await vs.query(`SELECT create_distributed_table('c', 'embedding', distribution => 'clustered', shard_count => 4)`);
  await vs.query(`SELECT create_reference_table('tags')`);
  for (const cl of [vs, one]) {
    for (const k of [...KINDS, 'h2']) if (!(cl === vs && k === 'c')) await cl.query(`INSERT INTO ${k} ${ROWS}`);
    await cl.query('DELETE FROM h2 WHERE id % 3 = 0');
    await cl.query(`INSERT INTO tags SELECT g, 'tag' || g FROM generate_series(0, 6) g`);
    await cl.query(`INSERT INTO plain VALUES (1, 'one'), (3, 'three'), (3, 'drei'), (5, 'five'), (8, 'none')`);
  }
  await vs.query('SET vecshard.exact = on');
}, 180_000);
afterAll(() => d?.close());

const compare = (sql: string, ordered: boolean) => compareOn(d, sql, ordered);
/** One session's statements in order, each answer equal to one node's. */
const inTurn = async (steps: Array<[sql: string, ordered: boolean]>) => {
  for (const [sql, ordered] of steps) {
    const { got, want } = await compare(sql, ordered);
    expect(got, sql).toEqual(want);
  }
};

// {T} is each kind of table in turn. A query "ordered" ends its top-level ORDER BY in a unique key (id).
const CORPUS: Array<[sql: string, ordered: boolean]> = [
  ['SELECT * FROM {T} WHERE id = 17', false],
  ['SELECT id, cat FROM {T} WHERE grp = 3 ORDER BY id', true],
  ['SELECT id FROM {T} WHERE cat IS NULL ORDER BY id', true],
  ['SELECT id, score FROM {T} WHERE score > 20 AND grp IN (1, 2) ORDER BY score DESC, id LIMIT 7', true],
  ['SELECT id FROM {T} ORDER BY id LIMIT 5 OFFSET 10', true],
  ['SELECT count(*), sum(score), min(id), max(id), avg(score) FROM {T}', false],
  ['SELECT grp, count(*), sum(score) FROM {T} GROUP BY grp ORDER BY grp', true],
  ['SELECT cat, count(*) FROM {T} GROUP BY cat ORDER BY cat NULLS FIRST', true],
  ['SELECT grp, count(*) FROM {T} GROUP BY grp HAVING count(*) > 21 ORDER BY grp', true],
  ['SELECT count(DISTINCT grp), count(DISTINCT cat) FROM {T}', false],
  ['SELECT grp, count(*) FILTER (WHERE score > 10) FROM {T} GROUP BY grp ORDER BY grp', true],
  ['SELECT grp, array_agg(id ORDER BY id) FROM {T} WHERE id < 30 GROUP BY grp ORDER BY grp', true],
  ['SELECT grp, string_agg(cat, \',\' ORDER BY id) FROM {T} WHERE id < 20 GROUP BY grp ORDER BY grp', true],
  ['SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY score), mode() WITHIN GROUP (ORDER BY grp) FROM {T}', false],
  ['SELECT stddev_pop(score)::numeric(10,4), var_samp(score)::numeric(10,4) FROM {T}', false],
  ['SELECT DISTINCT grp FROM {T} ORDER BY grp', true],
  ['SELECT DISTINCT cat FROM {T}', false],
  ['SELECT DISTINCT ON (grp) grp, id FROM {T} ORDER BY grp, id', true],
  ['SELECT id, row_number() OVER (PARTITION BY grp ORDER BY id) FROM {T} WHERE id < 25 ORDER BY id', true],
  ['SELECT id, sum(score) OVER (ORDER BY id) FROM {T} WHERE id <= 10 ORDER BY id', true],
  ['SELECT grp, count(*) * 2 + 1 FROM {T} GROUP BY grp ORDER BY grp', true],
  ["SELECT id FROM {T} WHERE cat LIKE 'g%' AND id % 3 = 0 ORDER BY id", true],
  ['SELECT grp, max(score) - min(score) FROM {T} GROUP BY grp ORDER BY grp', true],
  ["SELECT count(*) FROM {T} WHERE embedding <-> '[0,0,0]' < 1", false],
  ['SELECT cat, grp, count(*) FROM {T} GROUP BY cat, grp ORDER BY cat NULLS FIRST, grp', true],
  ['SELECT id, score FROM {T} ORDER BY score, id LIMIT 10', true],
  ['SELECT * FROM {T} WHERE id IN (3, 30, 130) ORDER BY id', true],
  ['SELECT grp, bool_and(score > 5), bit_or(id) FROM {T} GROUP BY grp ORDER BY grp', true],
  ['SELECT x.grp, count(DISTINCT x.cat) FROM {T} x GROUP BY x.grp ORDER BY x.grp', true],
  // A bare ORDER BY name is an output column's first (GROUP BY takes the input column first).
  ['SELECT id::text, grp FROM {T} WHERE id < 30 ORDER BY id', true],
  ['SELECT grp AS id, id AS grp FROM {T} WHERE id < 20 ORDER BY id, grp', true],
  ['SELECT id, -id AS score FROM {T} WHERE id < 15 ORDER BY score', true],
  ['SELECT DISTINCT grp::text FROM {T} ORDER BY grp', true],
  ['SELECT id % 3 AS id, count(*) FROM {T} GROUP BY id ORDER BY id', false],
  ['SELECT count(*) AS grp FROM {T} GROUP BY grp ORDER BY grp', false],
  // pgvector's vector aggregates (a centroid is an avg): avg has no partial form, the home node averages.
  ['SELECT avg(embedding) FROM {T} WHERE id < 40', false],
  ['SELECT grp, avg(embedding) FROM {T} GROUP BY grp ORDER BY grp', true],
  // The Citus tutorial's shapes: top groups by an aggregate.
  ['SELECT grp, avg(score)::numeric(10,2) AS a FROM {T} GROUP BY grp ORDER BY avg(score) DESC, grp LIMIT 3', true],
  ['SELECT cat, count(*) AS n FROM {T} WHERE score > 10 GROUP BY cat ORDER BY n DESC, cat NULLS FIRST LIMIT 2', true],
  // kNN and its README shapes.
  ["SELECT id FROM {T} ORDER BY embedding <-> '[1,0,0]' LIMIT 5", true],
  ["SELECT id, cat FROM {T} WHERE grp = 2 ORDER BY embedding <=> '[0,1,0.5]' LIMIT 4", true],
  ["SELECT id FROM {T} ORDER BY embedding <#> '[0.3,0.3,0.3]' LIMIT 6 OFFSET 2", true],
  ["SELECT id FROM {T} ORDER BY embedding <+> '[-1,0,1]' LIMIT 3", true],
  ['SELECT id FROM {T} WHERE id != 1 ORDER BY embedding <-> (SELECT embedding FROM {T} WHERE id = 1) LIMIT 5', true],
  ['SELECT id FROM {T} WHERE id != 40 ORDER BY embedding <=> (SELECT embedding FROM {T} WHERE id = 40) LIMIT 5', true],
  ['WITH q AS (SELECT embedding AS e FROM {T} WHERE id = 2) SELECT id FROM {T}, q ORDER BY embedding <=> q.e LIMIT 5', true],
  ["WITH relaxed AS MATERIALIZED (SELECT id, embedding <-> '[1,1,1]' AS distance FROM {T} ORDER BY embedding <-> '[1,1,1]' LIMIT 5) SELECT id FROM relaxed ORDER BY distance + 0", true],
  ["SELECT id FROM (SELECT * FROM {T} ORDER BY embedding <-> '[0,1,0]' LIMIT 20) s ORDER BY embedding <=> '[0,1,0]' LIMIT 5", true],
  ["SELECT id, row_number() OVER (ORDER BY d) AS r FROM (SELECT id, embedding <-> '[1,0,0]' AS d FROM {T} ORDER BY embedding <-> '[1,0,0]' LIMIT 10) s ORDER BY r", true],
  ["SELECT count(*) FROM (SELECT id FROM {T} ORDER BY embedding <-> '[1,0,0]' LIMIT 10) s", false],
  // Subqueries.
  ['SELECT count(*) FROM (SELECT id FROM {T} ORDER BY id LIMIT 10) s', false],
  ['SELECT id FROM {T} WHERE grp IN (SELECT id FROM tags WHERE name > \'tag3\') ORDER BY id', true],
  ['SELECT id FROM {T} WHERE grp IN (SELECT grp FROM plain) ORDER BY id', true],
  ['SELECT id FROM {T} WHERE grp NOT IN (SELECT grp FROM plain WHERE grp IS NOT NULL) AND id < 30 ORDER BY id', true],
  ['SELECT id FROM {T} WHERE EXISTS (SELECT 1 FROM plain WHERE label = \'one\') ORDER BY id LIMIT 3', true],
  ['SELECT id FROM {T} WHERE score > (SELECT avg(score) FROM {T}) ORDER BY id', true],
  ['SELECT id, (SELECT count(*) FROM {T}) AS n FROM {T} WHERE id < 4 ORDER BY id', true],
  ['SELECT id FROM {T} WHERE id = ANY (SELECT id FROM {T} WHERE grp = 0 AND id < 40) ORDER BY id', true],
  ['SELECT id FROM {T} WHERE id > ALL (SELECT id FROM {T} WHERE id < 140) ORDER BY id', true],
  ['SELECT ARRAY(SELECT id FROM {T} WHERE id < 5 ORDER BY id)', false],
  ['SELECT * FROM plain WHERE grp IN (SELECT grp FROM {T} WHERE id < 4) ORDER BY grp, label', true],
  ['SELECT grp, avg(n) FROM (SELECT grp, count(*) AS n FROM {T} GROUP BY grp) s GROUP BY grp ORDER BY grp', true],
  // CTEs and set operations.
  ['WITH a AS (SELECT id, grp FROM {T} WHERE id < 40), b AS (SELECT grp, count(*) AS n FROM a GROUP BY grp) SELECT * FROM b ORDER BY grp', true],
  ['WITH t AS (SELECT id FROM tags WHERE id < 3) SELECT count(*) FROM {T} WHERE grp IN (SELECT id FROM t)', false],
  ['SELECT id FROM {T} WHERE id < 10 UNION SELECT grp FROM plain ORDER BY 1', true],
  ['SELECT grp FROM {T} WHERE id < 10 UNION ALL SELECT grp FROM plain', false],
  ['SELECT grp FROM {T} INTERSECT SELECT grp FROM plain', false],
  ['SELECT grp FROM {T} EXCEPT SELECT grp FROM plain', false],
  // Correlated subqueries, LATERAL, recursive CTEs: the whole statement on the home node over the rows.
  ['SELECT id FROM {T} x WHERE EXISTS (SELECT 1 FROM plain p WHERE p.grp = x.grp AND p.label > \'f\') AND id < 30 ORDER BY id', true],
  ['SELECT id, (SELECT max(y.id) FROM {T} y WHERE y.grp = x.grp AND y.id < x.id) FROM {T} x WHERE id < 12 ORDER BY id', true],
  ['SELECT t.name, x.id FROM tags t, LATERAL (SELECT id FROM {T} WHERE grp = t.id ORDER BY id LIMIT 2) x ORDER BY t.name, x.id', true],
  ['WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 4) SELECT n, (SELECT count(*) FROM {T} WHERE grp = n) FROM r ORDER BY n', true],
  // pgvector's hybrid search: a kNN and a full-text search, fused by reciprocal rank.
  [`WITH semantic AS (SELECT id, RANK () OVER (ORDER BY embedding <=> '[1,0,0]') AS rank FROM {T} ORDER BY embedding <=> '[1,0,0]' LIMIT 20),
    keyword AS (SELECT id, RANK () OVER (ORDER BY ts_rank_cd(to_tsvector('simple', cat), query) DESC) AS rank FROM {T}, plainto_tsquery('simple', 'green') query
      WHERE to_tsvector('simple', cat) @@ query ORDER BY ts_rank_cd(to_tsvector('simple', cat), query) DESC, id LIMIT 20)
    SELECT COALESCE(semantic.id, keyword.id) AS id, COALESCE(1.0 / (60 + semantic.rank), 0.0) + COALESCE(1.0 / (60 + keyword.rank), 0.0) AS score
    FROM semantic FULL OUTER JOIN keyword ON semantic.id = keyword.id ORDER BY score DESC, id LIMIT 5`, true],
  // Joins.
  ['SELECT x.id, t.name FROM {T} x JOIN tags t ON t.id = x.grp WHERE x.id < 12 ORDER BY x.id', true],
  ['SELECT t.name, count(*) FROM {T} x JOIN tags t ON t.id = x.grp GROUP BY t.name ORDER BY t.name', true],
  ['SELECT x.id, p.label FROM {T} x JOIN plain p ON p.grp = x.grp WHERE x.id < 20 ORDER BY x.id, p.label', true],
  ['SELECT a.id, b.id FROM {T} a JOIN {T} b ON b.id = a.id + 1 WHERE a.id < 8 ORDER BY a.id', true],
  ['SELECT a.grp, count(*) FROM {T} a LEFT JOIN plain p ON p.grp = a.grp GROUP BY a.grp ORDER BY a.grp', true],
  ['SELECT x.id FROM {T} x JOIN h y ON y.id = x.id WHERE x.grp = 4 ORDER BY x.id', true],
  // Errors keep Postgres's SQLSTATE.
  ['SELECT id FROM {T} WHERE id = (SELECT id FROM {T} WHERE id < 3)', false],
  ['SELECT nope FROM {T}', false],
  ['SELECT (SELECT id, grp FROM {T} WHERE id = 1)', false],
];

describe('a corpus of statements equals one node, on hash, reference and clustered tables', () => {
  const cases = KINDS.flatMap((k) => CORPUS.map(([sql, ordered]) => [sql.replaceAll('{T}', k), ordered] as const));
  it('has at least 200 statements', () => expect(cases.length).toBeGreaterThanOrEqual(200));
  it.each(cases)('%s', async (sql, ordered) => {
    const { got, want } = await compare(sql, ordered);
    expect(got, sql).toEqual(want);
  });
});

// A random SELECT over one table: a filter, maybe grouping with aggregates, maybe an ORDER BY id with
// LIMIT/OFFSET, maybe wrapped in a subquery, a CTE or a UNION ALL.
const predicate = fc.oneof(
  fc.integer({ min: 1, max: 150 }).map((n) => `id < ${n}`),
  fc.integer({ min: 0, max: 6 }).map((n) => `grp = ${n}`),
  fc.constantFrom('red', 'green', 'blue', 'teal').map((s) => `cat = '${s}'`),
  fc.integer({ min: 0, max: 34 }).map((n) => `score >= ${n}`),
  fc.constant('cat IS NULL'),
  fc.integer({ min: 0, max: 6 }).map((n) => `grp IN (SELECT grp FROM plain WHERE grp <> ${n})`),
  fc.integer({ min: 1, max: 150 }).map((n) => `id <= (SELECT max(id) - ${n % 50} FROM {T})`),
);
const where = fc.array(predicate, { maxLength: 3 }).chain((ps) => fc.constantFrom(' AND ', ' OR ').map((op) => (ps.length ? ` WHERE ${ps.map((p) => `(${p})`).join(op)}` : '')));
const aggregate = fc.constantFrom('count(*)', 'sum(score)', 'min(id)', 'max(score)', 'avg(score)', 'count(DISTINCT cat)', 'count(*) FILTER (WHERE grp > 2)', 'array_agg(id ORDER BY id)');
const grouped = fc.record({ aggs: fc.uniqueArray(aggregate, { minLength: 1, maxLength: 3 }), by: fc.constantFrom('grp', 'cat', ''), having: fc.boolean() }).map(({ aggs, by, having }) => ({
  select: `${by ? `${by}, ` : ''}${aggs.join(', ')}`,
  tail: by ? ` GROUP BY ${by}${having ? ' HAVING count(*) > 5' : ''}` : '',
  order: by ? ` ORDER BY ${by} NULLS FIRST` : '',
  ordered: !!by,
}));
const plainRows = fc
  .record({ cols: fc.uniqueArray(fc.constantFrom('grp', 'cat', 'score'), { maxLength: 3 }), order: fc.boolean(), desc: fc.boolean(), limit: fc.option(fc.integer({ min: 0, max: 20 })), offset: fc.option(fc.integer({ min: 0, max: 10 })) })
  .map(({ cols, order, desc, limit, offset }) => ({
    select: ['id', ...cols].join(', '),
    tail: '',
    // LIMIT without a total order would pick different rows on each side: only with ORDER BY id.
    order: order ? ` ORDER BY id${desc ? ' DESC' : ''}${limit !== null ? ` LIMIT ${limit}` : ''}${offset !== null ? ` OFFSET ${offset}` : ''}` : '',
    ordered: order,
  }));
const query = fc
  .record({ table: fc.constantFrom(...KINDS), shape: fc.oneof(grouped, plainRows), where, wrap: fc.constantFrom('none', 'none', 'subquery', 'cte', 'union') })
  .map(({ table, shape, where, wrap }) => {
    const inner = `SELECT ${shape.select} FROM {T}${where}${shape.tail}`.replaceAll('{T}', table);
    const sql =
      wrap === 'subquery' ? `SELECT * FROM (${inner}) s` : wrap === 'cte' ? `WITH s AS (${inner}) SELECT * FROM s` : wrap === 'union' ? `${inner} UNION ALL ${inner}` : `${inner}${shape.order}`;
    return { sql, ordered: wrap === 'none' && shape.ordered };
  });

describe('co-located joins run shard by shard and equal one node', () => {
  const JOINS = [
    'SELECT a.id, b.cat FROM h a JOIN h2 b ON a.id = b.id WHERE a.id < 25 ORDER BY a.id',
    'SELECT a.id, b.id FROM h a LEFT JOIN h2 b ON b.id = a.id WHERE a.id < 12 ORDER BY a.id',
    'SELECT coalesce(a.id, b.id) FROM h a FULL JOIN h2 b ON a.id = b.id AND b.grp = 2 WHERE coalesce(a.id, b.id) < 15 ORDER BY 1',
    'SELECT a.grp, count(*), sum(b.score) FROM h a, h2 b WHERE a.id = b.id GROUP BY a.grp ORDER BY a.grp',
    "SELECT a.id FROM h a JOIN h2 b ON a.id = b.id ORDER BY a.embedding <-> '[1,0,0]' LIMIT 5",
    'SELECT a.id FROM h a JOIN h2 b ON a.id = b.id WHERE a.id = 40',
  ];
  it.each(JOINS)('%s', async (sql) => {
    const { got, want } = await compare(sql, /ORDER BY/.test(sql));
    expect(got, sql).toEqual(want);
    const plan = (await vs.query(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan, 'shard by shard, no rows moved').not.toMatch(/recursive planning/);
    expect(plan).toMatch(/vecshard_shards\.h_000\d/);
  });
});

/** Each generated statement's answer equals one node's (a failing seed is printed; VECSHARD_DIFF_SEED replays it). */
async function holds(statements: fc.Arbitrary<{ sql: string; ordered: boolean }>, numRuns: number): Promise<void> {
  const seed = process.env.VECSHARD_DIFF_SEED ? Number(process.env.VECSHARD_DIFF_SEED) : undefined;
  await fc.assert(
    fc.asyncProperty(statements, async ({ sql, ordered }) => {
      const { got, want } = await compare(sql, ordered);
      expect(got, sql).toEqual(want);
    }),
    { numRuns, seed, verbose: true },
  );
}

describe('random SELECTs equal one node', () => {
  it('holds for generated statements', () => holds(query, 150), 120_000);
});

describe('writes leave the same rows as on one node, and return the same rows', () => {
  // Each statement in turn on copies of h and r (the reads above keep theirs); after each, both tables compared.
  const WRITES = [
    "UPDATE {T} SET cat = v.c FROM (VALUES (1, 'x'), (2, 'y'), (77, 'z')) AS v(id, c) WHERE {T}.id = v.id",
    "UPDATE {T} SET score = {T}.score + 1 FROM plain p WHERE p.grp = {T}.grp AND p.label = 'drei' RETURNING {T}.id, p.label",
    'UPDATE {T} AS x SET cat = t.name FROM tags t WHERE t.id = x.grp AND x.id < 30',
    "DELETE FROM {T} USING plain p WHERE p.grp = {T}.grp AND p.label = 'five' RETURNING {T}.id",
    'UPDATE {T} SET grp = grp + 10 WHERE id IN (SELECT id FROM h2 WHERE grp = 1) RETURNING id, grp',
    'DELETE FROM {T} WHERE id = ANY (SELECT id FROM {T} WHERE score < 3) RETURNING id',
    'INSERT INTO {T} SELECT id + 1000, grp, cat, score, embedding FROM {T} WHERE id < 20 RETURNING id',
    'INSERT INTO {T} (id, grp) SELECT g, g % 7 FROM generate_series(2000, 2010) g',
    'WITH moved AS (DELETE FROM {T} WHERE id > 140 RETURNING *) INSERT INTO plain SELECT grp, cat FROM moved',
    'UPDATE {T} SET cat = upper(cat) WHERE id = 5 RETURNING *',
  ];
  beforeAll(async () => {
    for (const cl of [vs, one]) for (const k of ['wh', 'wr']) await cl.query(`CREATE TABLE ${k} AS SELECT * FROM ${k.slice(1)}`);
    await vs.query(`SELECT create_distributed_table('wh', 'id', shard_count => 4)`);
    await vs.query(`SELECT create_reference_table('wr')`);
  });
  it.each(['wh', 'wr'])('%s', async (k) => {
    for (const w of WRITES) {
      const sql = w.replaceAll('{T}', k);
      const { got, want } = await compare(sql, false);
      expect(got, sql).toEqual(want);
      for (const t of [k, 'plain']) {
        const after = await compare(`SELECT * FROM ${t}`, false);
        expect(after.got, `${t} after ${sql}`).toEqual(after.want);
      }
    }
  });
});

describe('CREATE TABLE ... AS and SELECT ... INTO make the same table as on one node', () => {
  const CTAS = [
    'CREATE TABLE x1 AS SELECT * FROM {T}',
    'CREATE TABLE x2 (a, b) AS SELECT id, grp FROM {T} WHERE id < 30',
    'CREATE TABLE x3 AS SELECT grp, count(*) AS n, avg(score) AS a FROM {T} GROUP BY grp',
    'CREATE TABLE x4 AS SELECT * FROM {T} WITH NO DATA',
    "CREATE TABLE x5 AS SELECT id FROM {T} ORDER BY embedding <-> '[1,0,0]' LIMIT 5",
    'SELECT id, cat INTO x6 FROM {T} WHERE grp = 2',
    'CREATE TABLE x7 AS WITH s AS (SELECT id FROM {T} WHERE id < 10) SELECT * FROM s',
    'CREATE TABLE x8 AS SELECT * FROM {T} WHERE false',
    'CREATE TABLE IF NOT EXISTS x1 AS SELECT * FROM {T}',
    'CREATE TABLE x1 AS SELECT * FROM {T}',
  ];
  it.each(KINDS)('%s', async (k) => {
    for (const s of CTAS) {
      const sql = s.replaceAll('{T}', k);
      const { got, want } = await compare(sql, false);
      expect(got, sql).toEqual(want);
    }
    for (const t of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6', 'x7', 'x8']) {
      const rows = await compare(`SELECT * FROM ${t}`, false);
      expect(rows.got, t).toEqual(rows.want);
      // The columns' exact types too: vector(3), numeric(8,2).
      const types = await compare(`SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '${t}'::regclass AND attnum > 0 ORDER BY attnum`, true);
      expect(types.got, t).toEqual(types.want);
      for (const cl of [vs, one]) await cl.query(`DROP TABLE ${t}`);
    }
  });
  it('refuses a materialized view over a distributed table, which would read it again at REFRESH', async () => {
    await expect(vs.query('CREATE MATERIALIZED VIEW mv AS SELECT * FROM h')).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('MATERIALIZED VIEW') });
  });
});

describe('SQL PREPARE, EXECUTE and DEALLOCATE over distributed tables answer as one node, errors too', () => {
  // One session's statements in order: [statement, ordered].
  const STEPS: Array<[string, boolean]> = [
    ['PREPARE p1 (int) AS SELECT id, cat FROM h WHERE grp = $1 ORDER BY id', false],
    ['EXECUTE p1(3)', true],
    ['EXECUTE p1(3.6)', true],
    ["EXECUTE p1('5')", true],
    ['EXECUTE p1(1 + 1)', true],
    ['EXECUTE p1(NULL)', true],
    ['EXECUTE p1', false],
    ['EXECUTE p1(1, 2)', false],
    ["EXECUTE p1('x')", false],
    ['PREPARE p1 AS SELECT 1', false],
    ["PREPARE p2 AS SELECT id FROM h ORDER BY embedding <-> $1::vector LIMIT 3", false],
    ["EXECUTE p2('[1,0,0]')", true],
    ['PREPARE p4 AS SELECT id, grp FROM h WHERE id = $1', false],
    ['EXECUTE p4(17)', false],
    ['PREPARE p5 (int, int) AS SELECT id FROM h WHERE grp = $1 ORDER BY id LIMIT $2', false],
    ['EXECUTE p5(2, 3)', true],
    ['PREPARE p3 (int) AS UPDATE h SET score = score + 1 WHERE id = $1 RETURNING id, score', false],
    ['EXECUTE p3(5)', true],
    ['PREPARE bad AS SELECT nope FROM h', false],
    ['EXECUTE bad', false],
    ['DEALLOCATE p1', false],
    ['EXECUTE p1(3)', false],
    ['PREPARE plainp AS SELECT label FROM plain ORDER BY label', false],
    ['EXECUTE plainp', true],
    ['DEALLOCATE ALL', false],
    ["EXECUTE p2('[1,0,0]')", false],
    ['EXECUTE plainp', false],
    ['PREPARE p6 AS SELECT id FROM h WHERE id < 3 ORDER BY id', false],
    ['BEGIN', false],
    ['DISCARD ALL', false],
    ['ROLLBACK', false],
    ['EXECUTE p6', true],
    ['DISCARD ALL', false],
    ['EXECUTE p6', false],
  ];
  it('step by step', async () => {
    await inTurn(STEPS);
    const after = await compare('SELECT * FROM h', false);
    expect(after.got).toEqual(after.want);
  });
});

it('refuses an EXECUTE of a SQL-prepared distributed statement in the extended protocol, clearly', async () => {
  await vs.query('PREPARE px AS SELECT id FROM h WHERE id = 1');
  await expect(vs.query({ text: 'EXECUTE px', values: [] , name: 'by-parse' })).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('extended query protocol') });
  expect((await vs.query('EXECUTE px')).rows).toEqual([{ id: 1 }]);
  await vs.query('DEALLOCATE px');
});

describe('views over distributed tables read the shards, as one node reads its tables', () => {
  // One session's statements in order: [statement, ordered]. On the nodes a view reads the empty shells.
  const STEPS: Array<[string, boolean]> = [
    ['CREATE VIEW hv AS SELECT id, grp, cat FROM h WHERE id < 100', false],
    ['CREATE VIEW hv2 (k, g) AS SELECT id, grp FROM hv WHERE grp > 2', false],
    ['CREATE VIEW mixed AS SELECT h.id, p.label FROM h JOIN plain p ON p.grp = h.grp', false],
    ['CREATE VIEW rv AS SELECT * FROM r WHERE grp = 1', false],
    ['CREATE VIEW hk AS SELECT id AS key, embedding, cat FROM h WHERE grp <> 3', false],
    ["SELECT key FROM hk ORDER BY embedding <-> '[1,0,0]' LIMIT 5", true],
    ["SELECT k.key, k.cat FROM hk k WHERE k.cat = 'red' ORDER BY k.embedding <=> '[0,1,0]' LIMIT 4", true],
    ['SELECT * FROM hk WHERE key = 40', false],
    ['SELECT cat, count(*) FROM hk GROUP BY cat ORDER BY cat NULLS FIRST', true],
    ['SELECT key AS cat FROM hk WHERE key < 30 ORDER BY cat DESC', true],
    ['SELECT count(*) FROM hv', false],
    ['SELECT * FROM hv WHERE id = 17', false],
    ['SELECT * FROM hv WHERE id = 18', false],
    ['SELECT * FROM hv WHERE id = 19', false],
    ['SELECT grp, count(*) FROM hv GROUP BY grp ORDER BY grp', true],
    ['SELECT * FROM hv2 ORDER BY k LIMIT 5', true],
    ['SELECT x.k FROM hv2 AS x WHERE x.g = 3 ORDER BY 1', true],
    ['SELECT * FROM mixed ORDER BY id, label LIMIT 10', true],
    ['SELECT count(*) FROM rv', false],
    ['SELECT v.id FROM hv v JOIN tags t ON t.id = v.grp WHERE v.id < 20 ORDER BY 1', true],
    ['WITH hv AS (SELECT 1 AS id) SELECT * FROM hv', false],
    ['SELECT id FROM hv WHERE id IN (SELECT k FROM hv2) ORDER BY id LIMIT 5', true],
  ["SELECT id FROM h WHERE id IN (SELECT id FROM hv WHERE cat = 'red') ORDER BY id", true],
    ['CREATE TABLE hv_copy AS SELECT * FROM hv', false],
    ['SELECT count(*) FROM hv_copy', false],
    ['CREATE OR REPLACE VIEW hv AS SELECT id, grp, cat FROM h WHERE id < 10', false],
    ['SELECT count(*) FROM hv', false],
    ['SELECT count(*) FROM hv2', false],
    ['ALTER VIEW hv2 RENAME TO hv3', false],
    ['SELECT count(*) FROM hv2', false],
    ['SELECT count(*) FROM hv3', false],
    ['DROP VIEW hv3', false],
    ['SELECT count(*) FROM hv3', false],
    ['DROP VIEW hv CASCADE', false],
    ['SELECT count(*) FROM hv', false],
    ['SELECT count(*) FROM mixed', false],
    ['DROP VIEW mixed, rv', false],
    ['SELECT count(*) FROM rv', false],
  ];
  it('step by step', async () => {
    await inTurn(STEPS);
    // A simple view is read as its table: a kNN through it is one kNN scatter-gather, no rows brought first.
    const plan = (await vs.query("EXPLAIN SELECT key FROM hk ORDER BY embedding <-> '[1,0,0]' LIMIT 5")).rows.map((r) => r['QUERY PLAN']).join('\n');
    expect(plan).not.toMatch(/recursive planning/);
    expect(plan).toMatch(/vecshard_shards\.h_000\d/);
    // Through a view, rows would go into the shell: refused there, not lost.
    await vs.query('CREATE VIEW hw AS SELECT * FROM h');
    await expect(vs.query("INSERT INTO hw (id) VALUES (9999)")).rejects.toMatchObject({ code: '0A000' });
    await vs.query('DROP VIEW hw');
  });
});

describe('random SELECTs through views equal one node', () => {
  // Views of every row (id >= 1), so the generated statements mean the same as over the tables: simple ones merge
  // into the query, the others (and queries with subqueries) read them as subqueries.
  beforeAll(async () => {
    for (const cl of [vs, one]) {
      await cl.query('CREATE VIEW hview AS SELECT id, grp, cat, score, embedding FROM h WHERE id >= 1');
      await cl.query('CREATE VIEW cview AS SELECT * FROM c WHERE id >= 1');
    }
  });
  const overViews = query.map(({ sql, ordered }) => ({ sql: sql.replace(/\bFROM (h|c)\b/g, (_, t: string) => `FROM ${t}view`), ordered }));
  it('holds for generated statements', () => holds(overViews, 100), 120_000);
});
