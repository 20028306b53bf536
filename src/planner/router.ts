// Routing by the distribution column: finding `col = value` in a WHERE clause, and hashing a value to its shard.
import { columnName, constText, type Node } from '../sql/ast.ts';
import { shardIndexFor } from '../metadata/route.ts';
import { decodeBinaryVector, parseVector, type Vec } from '../index/vector.ts';
import type { DistributedTable, Shard } from '../metadata/catalog.ts';
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
  return pinning(where, table, params)?.value;
}

/** The parameter ($n) that pins the distribution column, when a parameter does: its value alone picks the shard. */
export function pinningParam(where: Node | undefined, table: DistributedTable, params: BoundParams): number | undefined {
  let n = pinning(where, table, params)?.node;
  while (n?.TypeCast) n = n.TypeCast.arg;
  return n?.ParamRef?.number;
}

function pinning(where: Node | undefined, table: DistributedTable, params: BoundParams): { value: string | null; node: Node } | undefined {
  if (!where || !table.distColumn) return undefined;
  const b = where.BoolExpr;
  if (b?.boolop === 'AND_EXPR') {
    for (const a of b.args) {
      const v = pinning(a, table, params);
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
      // A number the column's type cannot hold (5.5, or past its range) compares as numeric on Postgres: it
      // matches no row, or only by its value, so it routes nowhere in particular (every shard answers).
      if (v && isNumber(val) && !routes(table, v)) return undefined;
      if (v !== undefined) return { value: v, node: val };
    }
  }
  return undefined;
}

function isNumber(n: Node): boolean {
  while (n.TypeCast) n = n.TypeCast.arg;
  return n.A_Const?.ival !== undefined || n.A_Const?.fval !== undefined;
}

function routes(table: DistributedTable, text: string): boolean {
  try {
    shardIndexFor(table, text);
    return true;
  } catch {
    return false;
  }
}

export function shardForValue(table: DistributedTable, text: string): Shard {
  return table.shards[shardIndexFor(table, text)];
}

/** A vector constant or parameter (text or pgvector's binary form); undefined for anything else. */
export function vectorValue(n: Node | undefined, params: BoundParams): Vec | null | undefined {
  if (!n) return undefined;
  if (n.TypeCast) return vectorValue(n.TypeCast.arg, params);
  if (n.ParamRef && params.formats[n.ParamRef.number - 1] === 1) {
    const b = params.values[n.ParamRef.number - 1];
    return b === null ? null : b === undefined ? undefined : decodeBinaryVector(b);
  }
  const t = valueText(n, params);
  return t == null ? t : parseVector(t);
}
