// Routing by the distribution column: finding `col = value` in a WHERE clause, and hashing a value to its shard.
import { columnName, constText, type Node } from '../sql/ast.ts';
import { HASHERS, shardIndexForHash } from '../shards/hash.ts';
import type { DistributedTable, Shard } from '../shards/catalog.ts';
import { paramText, type BoundParams } from './params.ts';

/** The text of a constant or parameter expression; undefined for anything else. */
export function valueText(n: Node | undefined, params: BoundParams): string | null | undefined {
  if (!n) return undefined;
  if (n.TypeCast) return valueText(n.TypeCast.arg, params);
  if (n.ParamRef) return paramText(params, n.ParamRef.number);
  return constText(n);
}

/** The value the WHERE clause pins the distribution column to, if it does (top-level `col = v` under AND). */
export function pinnedValue(where: Node | undefined, table: DistributedTable, params: BoundParams): string | null | undefined {
  if (!where || !table.distColumn) return undefined;
  const b = where.BoolExpr;
  if (b?.boolop === 'AND_EXPR') {
    for (const a of b.args) {
      const v = pinnedValue(a, table, params);
      if (v !== undefined) return v;
    }
    return undefined;
  }
  const e = where.A_Expr;
  if (!e || e.kind !== 'AEXPR_OP' || e.name?.[0]?.String?.sval !== '=') return undefined;
  for (const [col, val] of [
    [e.lexpr, e.rexpr],
    [e.rexpr, e.lexpr],
  ]) {
    if (columnName(col) === table.distColumn) {
      const v = valueText(val, params);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}

export function shardForValue(table: DistributedTable, text: string): Shard {
  const hash = HASHERS[table.distType!](text);
  return table.shards[shardIndexForHash(hash, table.shards.length)];
}
