// Bind parameters: reading the few values the planner needs (routing keys, LIMIT), and giving each shard query
// only the parameters it references, renumbered, since Postgres refuses parameters a query does not use.
import { walk, type Node } from '../sql/ast.ts';
import { readBindValues } from '../protocol/frontend.ts';

export interface BoundParams {
  values: Array<Buffer | null>;
  /** One format code per value (0 text, 1 binary). */
  formats: number[];
  /** Type OIDs from the client's Parse (0 where it left the type to the server). */
  types: number[];
}

export const NO_PARAMS: BoundParams = { values: [], formats: [], types: [] };

/** Expands Bind's 0, 1 or n format codes to one per value. */
export function expandFormats(codes: number[], n: number): number[] {
  if (codes.length === 0) return Array(n).fill(0);
  if (codes.length === 1) return Array(n).fill(codes[0]);
  return codes;
}

/** Parameter $n as text, decoding the binary forms of integers, uuid and text. */
export function paramText(p: BoundParams, n: number): string | null {
  const v = p.values[n - 1];
  if (v === undefined) throw new Error(`there is no parameter $${n}`);
  if (v === null) return null;
  if (p.formats[n - 1] !== 1) return v.toString('utf8');
  switch (p.types[n - 1]) {
    case 2950: // uuid
      return v.toString('hex').replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5');
    case 25:
    case 1043:
      return v.toString('utf8');
  }
  if (v.length === 2) return String(v.readInt16BE());
  if (v.length === 4) return String(v.readInt32BE());
  if (v.length === 8) return String(v.readBigInt64BE());
  return v.toString('utf8');
}

/** Renumbers the ParamRefs of `stmt` (in place) to $1..$m in order of first use; returns the matching params. */
export function subsetParams(stmt: Node, p: BoundParams): BoundParams {
  if (p.values.length === 0) return p;
  return pickParams(p, paramOrder(stmt));
}

/** The client's parameters a renumbered statement uses, in its new order. */
export function pickParams(p: BoundParams, order: number[]): BoundParams {
  if (p.values.length === 0) return p;
  const out: BoundParams = { values: [], formats: [], types: [] };
  for (const old of order) {
    out.values.push(p.values[old - 1] ?? null);
    out.formats.push(p.formats[old - 1] ?? 0);
    out.types.push(p.types[old - 1] ?? 0);
  }
  return out;
}

/**
 * Renumbers the ParamRefs of `stmt` (in place) to $1..$m in order of first use; returns the old numbers in the
 * new order.
 */
export function paramOrder(stmt: Node): number[] {
  const map = new Map<number, number>();
  // A plan may put one expression node in two places (the kNN distance is both a hidden column and the sort
  // key): each ParamRef object is renumbered once.
  const seen = new Set<Node>();
  walk(stmt, (n) => {
    const ref = n.ParamRef;
    if (!ref || seen.has(ref)) return;
    seen.add(ref);
    let m = map.get(ref.number);
    if (m === undefined) {
      m = map.size + 1;
      map.set(ref.number, m);
    }
    ref.number = m;
  });
  return [...map].sort((a, b) => a[1] - b[1]).map(([old]) => old);
}

/** The parameters of a Bind message body (after its portal and statement names), with the Parse's types. */
export function readBind(rest: Buffer, types: number[]): { params: BoundParams; resultFormats: number[] } {
  const b = readBindValues(rest);
  const n = b.values.length;
  return { params: { values: b.values, formats: expandFormats(b.paramFormats, n), types: Array.from({ length: n }, (_, i) => types[i] ?? 0) }, resultFormats: b.resultFormats };
}
