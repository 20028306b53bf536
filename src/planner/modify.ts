// UPDATE and DELETE on a distributed table: one shard when the WHERE clause pins the distribution column, else all.
import { walk, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { BoundParams } from './params.ts';
import { pinnedValue, shardForValue } from './router.ts';
import { tasksFor } from './shard-sql.ts';
import { constantCtes, readsRelations } from './relations.ts';
import { type DistributedPlan, type ErrorPlan } from './types.ts';
import { SHARD_SCHEMA } from '../metadata/catalog.ts';
import { nearestCentroidSql } from '../metadata/route.ts';
import { notSupported } from '../errors.ts';
import { quoteIdent } from '../sql/quote.ts';

export function planModify(kind: 'UpdateStmt' | 'DeleteStmt', stmt: Node, table: DistributedTable, params: BoundParams): DistributedPlan | ErrorPlan {
  const ctes = constantCtes(stmt);
  if (stmt.withClause && ctes.size < stmt.withClause.ctes.length) return notSupported('WITH in UPDATE or DELETE');
  // Tables in FROM / USING ran first (recursive.ts); what is left are rows that join inside each shard's write.
  const constant = (n: Node): boolean => (!!n.RangeSubselect && !readsRelations(n.RangeSubselect.subquery, ctes)) || (!!n.RangeVar && n.RangeVar.schemaname === undefined && ctes.has(n.RangeVar.relname)) || (!!n.JoinExpr && constant(n.JoinExpr.larg) && constant(n.JoinExpr.rarg));
  if (![...(stmt.fromClause ?? []), ...(stmt.usingClause ?? [])].every(constant)) return notSupported('UPDATE ... FROM or DELETE ... USING');
  let sub = false;
  // Subqueries that read tables ran first (recursive.ts); those left read none and run inside each shard.
  walk(stmt.whereClause, (n) => {
    if (n.SubLink && readsRelations(n.SubLink.subselect, ctes)) sub = true;
  });
  if (sub) return notSupported('a subquery in UPDATE or DELETE');
  const setsDistColumn = kind === 'UpdateStmt' && stmt.targetList.some((t: Node) => t.ResTarget?.name === table.distColumn);
  if (setsDistColumn && table.method === 'clustered') return planRelocate(stmt, table, params);
  if (setsDistColumn) {
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
    tasks: tasksFor(stmt, table, shards, params, kind, { parsed: stmt, key: kind }),
    merge: { kind: 'concat', limit: Infinity, offset: 0 },
    hidden: 0,
    write: true,
    strategy: shards.length === 1 ? `router: ${table.distColumn} = ${pinned}` : 'every shard',
  };
}

/**
 * UPDATE that changes a clustered table's vector: every shard runs the UPDATE (returning the new vectors, so radii
 * can grow), then deletes the rows it changed that now belong to another shard (nearest centroid, computed by the
 * node itself so every copy decides alike), returning them for the executor to insert where they belong, all in
 * one transaction.
 */
function planRelocate(stmt: Node, table: DistributedTable, params: BoundParams): DistributedPlan | ErrorPlan {
  if (stmt.returningList?.length || stmt.returningClause) return notSupported('RETURNING in an UPDATE that changes the vector of a clustered table');
  const col = quoteIdent(table.distColumn!);
  const shards = table.shards.map((s) => s.index);
  const nearest = nearestCentroidSql(table.shards.map((s) => s.geometry!.centroid), table.metric ?? 'l2', 'r', table.distColumn!);
  const update = { ...stmt, returningClause: undefined, returningList: undefined };
  return {
    kind: 'distributed',
    table,
    command: 'UPDATE',
    tasks: tasksFor(update, table, shards, params, 'UpdateStmt').map((t) => ({ ...t, sql: `${t.sql} RETURNING ${col}::text` })),
    merge: { kind: 'concat', limit: Infinity, offset: 0 },
    hidden: 0,
    write: true,
    strategy: 'every shard; rows whose new vector is nearer another centroid move there in the same transaction',
    relocate: {
      misplaced: (shardIndex: number, shardName: string) =>
        `DELETE FROM ${SHARD_SCHEMA}.${quoteIdent(shardName)} AS r WHERE r.xmin = pg_current_xact_id()::xid
            AND ${nearest} <> ${shardIndex} RETURNING *, ${nearest} AS __vecshard_target`,
    },
  };
}
