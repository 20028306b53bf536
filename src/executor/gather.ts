// The gather node: merges shard answers into the client's answer without re-encoding rows.
import { readRowDescription, rowDescription } from '../protocol/backend.ts';
import type { Merge } from '../planner/types.ts';
import type { TaskResult } from './shard-tasks.ts';

/** Byte offsets of each column cell in a DataRow (start of its length word). */
export function cellOffsets(row: Buffer): number[] {
  const n = row.readUInt16BE(5);
  const offs: number[] = [];
  let o = 7;
  for (let i = 0; i < n; i++) {
    offs.push(o);
    const len = row.readInt32BE(o);
    o += 4 + (len > 0 ? len : 0);
  }
  return offs;
}

/** The DataRow without its last `n` columns. */
export function stripColumns(row: Buffer, n: number): Buffer {
  if (n === 0) return row;
  const offs = cellOffsets(row);
  const keep = offs.length - n;
  const end = offs[keep];
  const out = Buffer.from(row.subarray(0, end));
  out.writeInt32BE(end - 1, 1);
  out.writeInt16BE(keep, 5);
  return out;
}

/** The value of the last column as a number (text or binary float8); null for SQL NULL. */
export function lastColumnNumber(row: Buffer, binary: boolean): number | null {
  const offs = cellOffsets(row);
  const o = offs[offs.length - 1];
  const len = row.readInt32BE(o);
  if (len < 0) return null;
  if (binary) return row.readDoubleBE(o + 4);
  const s = row.toString('latin1', o + 4, o + 4 + len);
  return s === 'NaN' ? Number.NaN : Number(s);
}

export function stripDescription(desc: Buffer, n: number): Buffer {
  if (n === 0) return desc;
  const fields = readRowDescription(desc);
  return rowDescription(fields.slice(0, fields.length - n));
}

/** Orders distances as Postgres does: NaN above every number; NULLs last ascending, first descending (by default). */
function compareDistance(a: number | null, b: number | null, desc: boolean, nullsFirst: boolean): number {
  if (a === null || b === null) {
    if (a === b) return 0;
    return (a === null) === nullsFirst ? -1 : 1;
  }
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  let c: number;
  if (an || bn) c = an === bn ? 0 : an ? 1 : -1;
  else c = a < b ? -1 : a > b ? 1 : 0;
  return desc ? -c : c;
}

/** Combines shard results; rows keep any hidden columns (strip them after). */
export function gatherRows(results: TaskResult[], merge: Merge, distanceBinary: boolean): Buffer[] {
  switch (merge.kind) {
    case 'concat': {
      const all = results.flatMap((r) => r.rows);
      return all.slice(merge.offset, merge.limit === Infinity ? undefined : merge.offset + merge.limit);
    }
    case 'knn': {
      // Tie-break on shard index, then position in the shard's answer: the same input always merges the same way.
      const keyed = results.flatMap((r) => r.rows.map((row, pos) => ({ row, d: lastColumnNumber(row, distanceBinary), shard: r.task.shardIndex, pos })));
      keyed.sort((x, y) => compareDistance(x.d, y.d, merge.desc, merge.nullsFirst) || x.shard - y.shard || x.pos - y.pos);
      const end = merge.limit === Infinity ? undefined : merge.offset + merge.limit;
      return keyed.slice(merge.offset, end).map((k) => k.row);
    }
    case 'insert-order': {
      const placed: Array<{ i: number; row: Buffer }> = [];
      for (const r of results) r.rows.forEach((row, j) => placed.push({ i: r.task.rowOrder?.[j] ?? 0, row }));
      placed.sort((a, b) => a.i - b.i);
      return placed.map((p) => p.row);
    }
  }
}
