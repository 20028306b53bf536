// UPDATE and DELETE on a distributed table: one shard when the WHERE clause pins the distribution column, else all.
import { walk, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../shards/catalog.ts';
import type { BoundParams } from './params.ts';
import { pinnedValue, shardForValue } from './router.ts';
import { taskFor } from './select.ts';
import { notSupported, type DistributedPlan, type ErrorPlan } from './types.ts';

export function planModify(kind: 'UpdateStmt' | 'DeleteStmt', stmt: Node, table: DistributedTable, params: BoundParams): DistributedPlan | ErrorPlan {
  if (stmt.withClause) return notSupported('WITH in UPDATE or DELETE');
  if (stmt.fromClause?.length || stmt.usingClause?.length) return notSupported('UPDATE ... FROM or DELETE ... USING');
  let sub = false;
  walk(stmt.whereClause, (n) => {
    if (n.SubLink) sub = true;
  });
  if (sub) return notSupported('a subquery in UPDATE or DELETE');
  if (kind === 'UpdateStmt' && stmt.targetList.some((t: Node) => t.ResTarget?.name === table.distColumn)) {
    return {
      kind: 'error',
      error: {
        severity: 'ERROR',
        code: '0A000',
        message: `vecshard: modifying the distribution column "${table.distColumn}" of "${table.name}" is not supported`,
        hint: 'Delete the row and insert it again with the new value.',
      },
    };
  }
  const pinned = table.method === 'reference' ? undefined : pinnedValue(stmt.whereClause, table, params);
  const shards = pinned !== undefined && pinned !== null ? [shardForValue(table, pinned).index] : table.shards.map((s) => s.index);
  return {
    kind: 'distributed',
    table,
    command: kind === 'UpdateStmt' ? 'UPDATE' : 'DELETE',
    tasks: shards.map((i) => taskFor(stmt, table, i, params, kind)),
    merge: { kind: 'concat', limit: Infinity, offset: 0 },
    hidden: 0,
    write: true,
    strategy: shards.length === 1 ? `router: ${table.distColumn} = ${pinned}` : 'every shard',
  };
}
