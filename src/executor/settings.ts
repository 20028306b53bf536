// Session settings follow a client onto whichever node connection serves it: a pooled connection is brought to the
// client's settings before use, and a client's settings are re-read from the node after it changes them.
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { quoteLiteral } from '../sql/quote.ts';

export type Settings = Map<string, string>;

export function settingsKey(s: Settings): string {
  return JSON.stringify([...s].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Startup parameters that are settings (user, database and the like are not). */
export function startupSettings(params: Record<string, string>): Settings {
  const out: Settings = new Map();
  for (const [k, v] of Object.entries(params)) {
    if (['user', 'database', 'replication', 'options'].includes(k)) continue;
    out.set(k, v);
  }
  // "-c name=value" and "--name=value" in the options parameter, as libpq sends PGOPTIONS.
  const opts = params.options ?? '';
  for (const m of opts.matchAll(/(?:-c\s*|--)([A-Za-z0-9_.-]+)=((?:\\.|\S)*)/g)) {
    out.set(m[1].replace(/-/g, '_'), m[2].replace(/\\(.)/g, '$1'));
  }
  return out;
}

/** Brings `conn` to exactly `settings`; ParameterStatus the node sends on the way updates conn.params. */
export async function applySettings(conn: NodeConnection, settings: Settings, key: string): Promise<void> {
  if (conn.backend.settingsKey === key) return;
  const sets = [...settings].map(([k, v]) => `set_config(${quoteLiteral(k)}, ${quoteLiteral(v)}, false)`);
  const sql = conn.backend.settingsKey === '' && sets.length === 0 ? '' : `RESET ALL;${sets.length ? ` SELECT ${sets.join(', ')}` : ''}`;
  if (sql) await runQuery(conn, sql);
  conn.backend.settingsKey = key;
}

/**
 * The settings a session has set on `conn`, read back from the node. Placeholders (a dotted setting whose
 * extension is not loaded in that backend yet, such as hnsw.ef_search before pgvector loads) are not in
 * pg_settings, so the `custom` names the session has set are read one by one.
 */
export async function readSettings(conn: NodeConnection, custom: Iterable<string> = []): Promise<Settings> {
  const names = [...custom].map(quoteLiteral).join(', ');
  const extra = names
    ? ` UNION SELECT n, current_setting(n, true) FROM unnest(ARRAY[${names}]::text[]) n
         WHERE coalesce(current_setting(n, true), '') <> '' AND n NOT IN (SELECT name FROM pg_settings WHERE source = 'session')`
    : '';
  const r = await runQuery(conn, `SELECT name, setting FROM pg_settings WHERE source = 'session'${extra} ORDER BY 1`);
  return new Map(r.rows.map(([k, v]) => [k!, v ?? '']));
}

/** Session settings as the open transaction's SET LOCAL statements leave them. */
export function withLocal(settings: Settings, local: Map<string, string | null>): Settings {
  const out = new Map(settings);
  for (const [k, v] of local) {
    if (v === null) out.delete(k);
    else out.set(k, v);
  }
  return out;
}
