// The real Postgres parser (libpg_query, compiled to WASM), with a cache keyed by statement text.
import { loadModule, parseSync } from 'libpg-query';

export type RawStmt = { stmt: Record<string, any>; stmt_location?: number; stmt_len?: number };

let loaded: Promise<void> | undefined;

/** Loads the parser once; call before parseSql. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

const CACHE_MAX = 2000;
const cache = new Map<string, RawStmt[] | Error>();

/** Parses SQL into raw statements; a syntax error comes back as an Error (the node will word it itself). */
export function parseSql(sql: string): RawStmt[] | Error {
  const hit = cache.get(sql);
  if (hit) return hit;
  let out: RawStmt[] | Error;
  try {
    out = (parseSync(sql) as { stmts?: RawStmt[] }).stmts ?? [];
  } catch (e) {
    out = e as Error;
  }
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(sql, out);
  return out;
}

/** The name of a statement's node type, e.g. "SelectStmt". */
export function stmtKind(s: RawStmt): string {
  return Object.keys(s.stmt)[0];
}

/** The source text of one statement of a multi-statement string. */
export function stmtText(sql: string, s: RawStmt): string {
  const start = s.stmt_location ?? 0;
  return s.stmt_len ? sql.slice(start, start + s.stmt_len) : sql.slice(start);
}
