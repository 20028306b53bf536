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

const columnTypeCache = new WeakMap<NodeConnection, Map<string, string>>();

/**
 * Each column's type with its modifier (vector(3), numeric(8,2), varchar(20)), as node 0 spells it: rows put back
 * as typed constants keep their columns' exact types (CREATE TABLE AS makes a table of them).
 */
export async function columnTypes(conn: NodeConnection, fields: Array<{ typeOid: number; typeMod?: number }>): Promise<string[]> {
  let cache = columnTypeCache.get(conn);
  if (!cache) columnTypeCache.set(conn, (cache = new Map()));
  const key = (f: { typeOid: number; typeMod?: number }) => `${f.typeOid}/${f.typeMod ?? -1}`;
  const missing = [...new Map(fields.filter((f) => !cache.has(key(f))).map((f) => [key(f), f])).values()];
  if (missing.length) {
    const pairs = missing.map((f) => `(${f.typeOid}::oid, ${f.typeMod ?? -1}::int)`).join(', ');
    const r = await runQuery(conn, `SELECT t.oid, t.mod, format_type(t.oid, nullif(t.mod, -1)) FROM (VALUES ${pairs}) AS t(oid, mod) JOIN pg_type p ON p.oid = t.oid`);
    for (const [oid, mod, name] of r.rows) cache.set(`${oid}/${mod}`, name!);
  }
  return fields.map((f) => cache.get(key(f)) ?? 'text');
}
