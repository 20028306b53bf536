// Small helpers over libpg_query's JSON parse trees.
import { Deparser } from 'pgsql-deparser';

export type Node = Record<string, any>;

/** Calls `fn` on every object in the tree (depth first); return false from fn to skip a subtree. */
export function walk(node: unknown, fn: (n: Node, key: string | undefined) => boolean | void, key?: string): void {
  if (Array.isArray(node)) {
    for (const x of node) walk(x, fn, key);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if (fn(node as Node, key) === false) return;
  // for…in, not Object.entries: the planner walks every statement several times, and the pairs array it would
  // allocate per node was most of the walking's cost.
  for (const k in node) {
    const v = (node as Record<string, unknown>)[k];
    if (v && typeof v === 'object') walk(v, fn, k);
  }
}

/**
 * A deep copy of a parse tree (plain objects and arrays, as libpg_query's JSON gives them): several times faster
 * than structuredClone, which the planner paid for on every statement it rewrote.
 */
export function cloneTree<T>(node: T): T {
  if (node === null || typeof node !== 'object') return node;
  if (Array.isArray(node)) return node.map(cloneTree) as T;
  if (ArrayBuffer.isView(node)) return (node as unknown as Float32Array).slice() as T;
  const out: Record<string, unknown> = {};
  for (const k in node) out[k] = cloneTree((node as Record<string, unknown>)[k]);
  return out as T;
}

/**
 * pgsql-deparser writes `ARRAY['a','b'][1]` (a syntax error) for a subscript of an ARRAY[...] constructor or a
 * constant: the expression under a subscript or field selection is always parenthesised here, which is valid
 * for every kind of expression.
 */
class Deparse extends Deparser {
  A_Indirection(node: Node, context: unknown): string {
    const arg = this.visit(node.arg, context as never);
    const wrapped = node.arg?.ParamRef ? arg : `(${arg})`.replace(/^\(\((.*)\)\)$/s, '($1)');
    return super.A_Indirection({ ...node, arg: { ParamRef: { number: 0 } } } as never, context as never).replace(/^\$0/, () => wrapped);
  }
}

/** Compact SQL for a statement node such as { SelectStmt: {...} }. */
export function deparse(stmt: Node): string {
  return new Deparse(stmt as never, { pretty: false } as never).deparseQuery();
}

export const str = (s: string): Node => ({ String: { sval: s } });

export function columnRef(...names: string[]): Node {
  return { ColumnRef: { fields: names.map(str) } };
}

/** The text of a constant (A_Const, possibly under a TypeCast), or undefined. */
export function constText(n: Node | undefined): string | null | undefined {
  if (!n) return undefined;
  if (n.TypeCast) return constText(n.TypeCast.arg);
  const c = n.A_Const;
  if (!c) return undefined;
  if (c.isnull) return null;
  if (c.ival) return String(c.ival.ival ?? 0);
  if ('ival' in c) return '0';
  if (c.fval) return c.fval.fval;
  if (c.sval) return c.sval.sval;
  if (c.boolval) return c.boolval.boolval ? 'true' : 'false';
  return undefined;
}

export function intConst(v: number): Node {
  return { A_Const: { ival: { ival: v } } };
}

/** The column name of a simple ColumnRef (optionally qualified), or undefined. */
export function columnName(n: Node | undefined): string | undefined {
  const f = n?.ColumnRef?.fields;
  if (!f?.length) return undefined;
  const last = f[f.length - 1];
  return last.String?.sval;
}

/** The name Postgres gives an expression's output column (FigureColname), '?column?' when it gives none. */
export function figureName(v: Node | undefined): string {
  if (!v) return '?column?';
  if (v.ColumnRef) return v.ColumnRef.fields.at(-1).String?.sval ?? '?column?';
  if (v.FuncCall) return v.FuncCall.funcname.at(-1).String.sval;
  if (v.TypeCast) {
    const inner = figureName(v.TypeCast.arg);
    return inner !== '?column?' ? inner : (v.TypeCast.typeName?.names?.at(-1)?.String?.sval ?? '?column?');
  }
  if (v.A_Indirection) {
    const last = v.A_Indirection.indirection.at(-1);
    return last?.String?.sval ?? figureName(v.A_Indirection.arg);
  }
  if (v.CollateClause) return figureName(v.CollateClause.arg);
  if (v.CaseExpr) return 'case';
  if (v.CoalesceExpr) return 'coalesce';
  if (v.A_ArrayExpr) return 'array';
  if (v.RowExpr) return 'row';
  if (v.MinMaxExpr) return v.MinMaxExpr.op === 'IS_GREATEST' ? 'greatest' : 'least';
  if (v.A_Expr?.kind === 'AEXPR_NULLIF') return 'nullif';
  if (v.SubLink?.subLinkType === 'EXISTS_SUBLINK') return 'exists';
  if (v.SubLink?.subLinkType === 'ARRAY_SUBLINK') return 'array';
  return '?column?';
}

/** The name of a SELECT's output column: its alias, or what Postgres figures from its expression. */
export function outputName(target: Node): string {
  return target.ResTarget.name ?? figureName(target.ResTarget.val);
}

function exprText(n: Node): string {
  return deparse({ SelectStmt: { targetList: [{ ResTarget: { val: n } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } });
}

/**
 * The output column an ORDER BY key stands for, as Postgres decides: a bare name is first an output column's name
 * (several different ones: ambiguous), else the key is matched by its expression; -1 when it is none of them.
 */
export function sortTarget(targets: Node[], key: Node): number | 'ambiguous' {
  const name = key.ColumnRef?.fields?.length === 1 ? key.ColumnRef.fields[0].String?.sval : undefined;
  if (name !== undefined) {
    const named = targets.flatMap((t, i) => (outputName(t) === name ? [i] : []));
    if (named.length > 1 && named.some((i) => exprText(targets[i].ResTarget.val) !== exprText(targets[named[0]].ResTarget.val))) return 'ambiguous';
    if (named.length) return named[0];
  }
  const text = exprText(key);
  return targets.findIndex((t) => t.ResTarget.val && exprText(t.ResTarget.val) === text);
}
