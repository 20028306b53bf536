// The shard SQL of a kNN is made once per statement text and reused: what else shaped it (the LIMIT a parameter
// gives, exact mode, the table) must still change it, and each execution must carry its own parameter values.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, parseSql, type RawStmt } from '../../src/sql/parse.ts';
import { Catalog, type DistributedTable } from '../../src/metadata/catalog.ts';
import { planStatement } from '../../src/planner/statement.ts';

beforeAll(() => loadParser());

function table(name: string): DistributedTable {
  return {
    schema: 'public',
    name,
    columns: [{ name: 'id', type: 'int8', default: null, sequenceDefault: null } as any, { name: 'embedding', type: 'vector', default: null, sequenceDefault: null } as any],
    method: 'hash',
    distColumn: 'id',
    distType: 'int8',
    shards: Array.from({ length: 2 }, (_, i) => ({ id: i + 1, index: i, name: `${name}_000${i}`, minHash: 0, maxHash: 0, nodes: [i] })),
  };
}

async function plan(sql: string, values: string[], settings: Array<[string, string]> = []) {
  const catalog = new Catalog();
  catalog.tables.set('public.items', table('items'));
  const [raw] = parseSql(sql) as RawStmt[];
  const params = { values: values.map((v) => Buffer.from(v)), formats: values.map(() => 0), types: values.map(() => 0) };
  const p: any = await planStatement(raw, sql, { catalog, params, settings: new Map(settings), nodeCount: 2, evalDefault: async () => [], nodes: [], tasks: [] });
  return p.tasks.map((t: any) => ({ sql: t.sql, params: t.params.values.map(String) }));
}

const KNN = 'SELECT id FROM items WHERE id > $3 ORDER BY embedding <-> $1 LIMIT $2';

it('reuses the shard SQL but not the parameter values', async () => {
  const a = await plan(KNN, ['[1,2]', '5', '0']);
  const b = await plan(KNN, ['[3,4]', '5', '7']);
  expect(b[0].sql).toBe(a[0].sql);
  expect(a[0].params).toEqual(['[1,2]', '0']);
  expect(b[0].params).toEqual(['[3,4]', '7']);
  expect(a[1].sql).toContain('items_0001');
});

it('makes new shard SQL when the LIMIT or exact mode changes', async () => {
  const five = await plan(KNN, ['[1,2]', '5', '0']);
  const twenty = await plan(KNN, ['[1,2]', '20', '0']);
  expect(five[0].sql).toMatch(/LIMIT 5\b/);
  expect(twenty[0].sql).toMatch(/LIMIT 20\b/);
  const exact = await plan(KNN, ['[1,2]', '5', '0'], [['vecshard.exact', 'on']]);
  expect(exact[0].sql).toMatch(/\+ 0/);
  expect(five[0].sql).not.toMatch(/\+ 0/);
});
