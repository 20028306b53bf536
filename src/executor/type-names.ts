// Type names for OIDs, as the home node spells them: intermediate results and combined aggregates are written
// back into SQL as typed constants, and extension types (vector) have per-database OIDs.
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';

const typeNameCache = new WeakMap<NodeConnection, Map<number, string>>();

/** Type names for OIDs, as node 0 of this database spells them (extension types have per-database OIDs). */
export async function typeNames(conn: NodeConnection, oids: number[]): Promise<Map<number, string>> {
  let cache = typeNameCache.get(conn);
  if (!cache) typeNameCache.set(conn, (cache = new Map()));
  const missing = oids.filter((o) => !cache.has(o));
  if (missing.length) {
    const r = await runQuery(conn, `SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid IN (${missing.join(', ')})`);
    for (const [oid, name] of r.rows) cache.set(Number(oid), name!);
  }
  return cache;
}
