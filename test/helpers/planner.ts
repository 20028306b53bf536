// Plans statements without a server: a catalog with one table of each kind, and planStatement as the session
// calls it. For the planner's unit tests beside its source (src/planner/*.test.ts).
import { loadParser, parseSql, type RawStmt } from '../../src/sql/parse.ts';
import { Catalog, type DistributedTable } from '../../src/metadata/catalog.ts';
import { planStatement, type StatementPlan } from '../../src/planner/statement.ts';

export { loadParser };

const column = (name: string, type: string) => ({ name, type, default: null, sequenceDefault: null }) as unknown as DistributedTable['columns'][number];

const hashTable = (name: string, firstId: number): DistributedTable => ({
  schema: 'public',
  name,
  columns: [column('id', 'int8'), column('tenant', 'int4'), column('title', 'text'), column('embedding', 'vector')],
  method: 'hash',
  distColumn: 'id',
  distType: 'int8',
  shards: Array.from({ length: 4 }, (_, i) => ({ id: firstId + i, index: i, name: `${name}_000${i}`, minHash: -(2 ** 31) + i * 2 ** 30, maxHash: -(2 ** 31) + (i + 1) * 2 ** 30 - 1, nodes: [i % 2, (i + 1) % 2] })),
});

/** `items` and `orders` (hash by id, 4 shards on 2 nodes, co-located), `tags` (reference, on every node). */
export function testCatalog(): Catalog {
  const catalog = new Catalog();
  catalog.tables.set('public.items', hashTable('items', 1));
  catalog.tables.set('public.orders', hashTable('orders', 20));
  catalog.tables.set('public.tags', {
    schema: 'public',
    name: 'tags',
    columns: [column('id', 'int8'), column('name', 'text')],
    method: 'reference',
    distColumn: null,
    distType: null,
    shards: [{ id: 10, index: 0, name: 'tags_0000', minHash: 0, maxHash: 0, nodes: [0, 1] }],
  } as DistributedTable);
  return catalog;
}

/** The plan of one statement, with text parameters and session settings. */
export async function plan(sql: string, values: string[] = [], settings: Array<[string, string]> = []): Promise<StatementPlan> {
  const [raw] = parseSql(sql) as RawStmt[];
  const params = { values: values.map((v) => Buffer.from(v)), formats: values.map(() => 0), types: values.map(() => 0) };
  return planStatement(raw, sql, { catalog: testCatalog(), params, settings: new Map(settings), nodeCount: 2, evalDefault: async (_e, n) => Array.from({ length: n }, (_, i) => String(1000 + i)), nodes: [], tasks: [] });
}
