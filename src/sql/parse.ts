// The real Postgres parser (libpg_query, compiled to WASM), with a cache keyed by statement text.
import { loadModule, parseSync } from 'libpg-query';

export type RawStmt = { stmt: Record<string, any>; stmt_location?: number; stmt_len?: number };

let loaded: Promise<void> | undefined;

/** Loads the parser once; call before parseSql. */
export function loadParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

// The cache is for statements sent again and again (ORMs, prepared statements). A long statement (a multi-row
// INSERT with its values) is rarely sent twice, and its tree is many times its text: it is not kept. The rest are
// kept up to a count and a total of text, oldest out first.
const CACHE_MAX = 2000;
const CACHE_MAX_CHARS = 4 * 1024 * 1024;
const CACHE_MAX_ONE = 16 * 1024;
const cache = new Map<string, RawStmt[] | Error>();
let cachedChars = 0;

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
  if (sql.length > CACHE_MAX_ONE) return out;
  while (cache.size && (cache.size >= CACHE_MAX || cachedChars + sql.length > CACHE_MAX_CHARS)) {
    const oldest = cache.keys().next().value!;
    cache.delete(oldest);
    cachedChars -= oldest.length;
  }
  cache.set(sql, out);
  cachedChars += sql.length;
  return out;
}

/** How much the parse cache holds (for its test). */
export function parseCacheSize(): { entries: number; chars: number } {
  return { entries: cache.size, chars: cachedChars };
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
