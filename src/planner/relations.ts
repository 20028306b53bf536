// Which distributed tables a statement touches, and renaming them to a shard.
import { walk, type Node } from '../sql/ast.ts';
import { SHARD_SCHEMA, type Catalog, type DistributedTable } from '../shards/catalog.ts';

/** A RangeVar, whether wrapped ({ RangeVar: {...} } in node lists) or bare (InsertStmt.relation and the like). */
function rangeVar(n: Node): Node | undefined {
  if (n.RangeVar) return n.RangeVar;
  return typeof n.relname === 'string' && 'inh' in n ? n : undefined;
}

/** Distributed tables named anywhere in the statement (unqualified names are taken as public). */
export function distributedTables(stmt: Node, catalog: Catalog): DistributedTable[] {
  if (catalog.empty) return [];
  const found = new Map<string, DistributedTable>();
  walk(stmt, (n) => {
    const rv = rangeVar(n);
    if (rv) {
      const t = catalog.get(rv.schemaname ?? 'public', rv.relname);
      if (t) found.set(`${t.schema}.${t.name}`, t);
    }
  });
  return [...found.values()];
}

/** A copy of the statement in which `table` is its shard, aliased to the table's name so column references hold. */
export function toShard(stmt: Node, table: DistributedTable, shardName: string): Node {
  const copy = structuredClone(stmt);
  walk(copy, (n, key) => {
    const rv = rangeVar(n);
    if (!rv || (rv.schemaname ?? 'public') !== table.schema || rv.relname !== table.name) return;
    rv.schemaname = SHARD_SCHEMA;
    rv.relname = shardName;
    if (!rv.alias) rv.alias = { aliasname: table.name };
  });
  return copy;
}
