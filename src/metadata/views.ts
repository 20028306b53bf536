// Views over distributed tables. On the nodes a view reads the shells, which hold no rows; the planner reads it
// as its definition instead (a subquery in FROM), so it runs on the shards. The catalog keeps each such view's
// parsed definition, read from the home node with the tables.
import type { Node } from '../sql/ast.ts';
import { parseSql, type RawStmt } from '../sql/parse.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import type { DistributedTable } from './catalog.ts';

export interface DistributedView {
  name: string;
  /** The view's SELECT, as pg_get_viewdef gives it, parsed. */
  query: Node;
  /** The distributed tables it reads (through other views too). */
  tables: DistributedTable[];
}

/** Every view that reads a distributed table, directly or through other views, by "schema.name". */
export async function loadViews(conn: NodeConnection, tables: Map<string, DistributedTable>): Promise<Map<string, DistributedView>> {
  const views = new Map<string, DistributedView>();
  if (!tables.size) return views;
  const shells = [...tables.values()].map((t) => `to_regclass(${quoteLiteral(`${quoteIdent(t.schema)}.${quoteIdent(t.name)}`)})`).join(', ');
  const r = await runQuery(
    conn,
    `WITH RECURSIVE reads(view, base) AS (
        SELECT r.ev_class, d.refobjid FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass AND d.refobjid = ANY (ARRAY[${shells}]) AND r.ev_class <> d.refobjid
        UNION
        SELECT r.ev_class, reads.base FROM reads JOIN pg_depend d ON d.refobjid = reads.view JOIN pg_rewrite r ON r.oid = d.objid
         WHERE d.classid = 'pg_rewrite'::regclass AND r.ev_class <> d.refobjid)
      SELECT n.nspname, c.relname, pg_get_viewdef(c.oid), string_agg(DISTINCT bn.nspname || '.' || b.relname, ',')
        FROM reads JOIN pg_class c ON c.oid = reads.view JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_class b ON b.oid = reads.base JOIN pg_namespace bn ON bn.oid = b.relnamespace
       WHERE c.relkind = 'v' GROUP BY 1, 2, 3`,
  );
  for (const [schema, name, def, bases] of r.rows) {
    const parsed = parseSql(def!);
    if (parsed instanceof Error || !(parsed as RawStmt[])[0]?.stmt.SelectStmt) continue;
    views.set(`${schema}.${name}`, { name: name!, query: (parsed as RawStmt[])[0].stmt, tables: bases!.split(',').map((k) => tables.get(k)!).filter(Boolean) });
  }
  return views;
}
