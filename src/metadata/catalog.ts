// The catalog of distributed tables, read from node 0 of a database and cached; created on first use.
import { loadViews, type DistributedView } from './views.ts';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { PgError } from '../errors.ts';
import type { ShardGeometry } from '../index/bounds.ts';
import type { Metric } from '../index/distance.ts';
import { formatVector, parseVector } from '../index/vector.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

export interface Shard {
  id: number;
  index: number;
  /** Table name inside the vecshard_shards schema. */
  name: string;
  minHash: number;
  maxHash: number;
  /** Nodes holding an active copy, the first being the one reads go to. */
  nodes: number[];
  /** Clustered tables: the shard's centroid and radii. */
  geometry?: ShardGeometry;
}

export interface Column {
  name: string;
  type: string;
  /** Default expression, if any. */
  default: string | null;
  /** The default when it draws from a sequence (serial, identity): the coordinator evaluates it. */
  sequenceDefault: string | null;
}

export interface DistributedTable {
  schema: string;
  name: string;
  columns: Column[];
  method: 'hash' | 'reference' | 'clustered';
  distColumn: string | null;
  distType: string | null;
  /** Clustered tables: the metric of the centroids and bounds. */
  metric?: Metric;
  shards: Shard[];
  /** Recall@k measured at each hnsw.ef_search (vecshard.calibrate), by distance operator, ef_search ascending. */
  calibration?: Map<string, CalibrationPoint[]>;
  /**
   * For one statement only: reference tables joined with this table. Each shard's query reads their copy on its
   * own node, and only nodes holding an active copy of every one of them serve it.
   */
  joined?: DistributedTable[];
  /**
   * For one statement only: a hash table co-located with this one (same shard count and hash ranges) and joined on
   * the distribution columns: shard i of each meets only shard i of the other, on a node that holds both.
   */
  colocated?: DistributedTable;
}

export interface CalibrationPoint {
  /** Clustered tables: how many nearest shards were visited; 0 for every shard (hash tables). */
  probes: number;
  efSearch: number;
  recall: number;
  k: number;
  queries: number;
  tableRows: number;
}

export const SHARD_SCHEMA = 'vecshard_shards';

/**
 * Every change to a catalog copy bumps its version and stores a digest of its rows; the highest version is the
 * newest copy, and copies at one version must have one digest (catalog-copies.ts).
 */
export const BUMP_VERSION = 'UPDATE vecshard.catalog_state SET version = version + 1, digest = vecshard.catalog_digest()';

/**
 * Tells other coordinators that tables changed, when the transaction commits (catalog-watch.ts). Sent by the home
 * node's part only: a transaction that NOTIFYs cannot be prepared, and the home node's part is never prepared.
 */
export const ANNOUNCE = 'NOTIFY vecshard_catalog';

const MIGRATIONS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export class Catalog {
  readonly tables = new Map<string, DistributedTable>();
  /** Views that read distributed tables (views.ts), by "schema.name". */
  views = new Map<string, DistributedView>();
  /** The version of the copy it was read from (read before its rows: a newer version only makes a reload). */
  version = -1;

  static key(schema: string, name: string): string {
    return `${schema}.${name}`;
  }

  get(schema: string, name: string): DistributedTable | undefined {
    return this.tables.get(Catalog.key(schema, name));
  }

  get empty(): boolean {
    return this.tables.size === 0;
  }
}

/**
 * Applies the numbered SQL files in migrations/ that this database has not had yet, in one transaction (inside the
 * caller's transaction block when `inTransaction`).
 */
export async function migrate(conn: NodeConnection, inTransaction = false): Promise<void> {
  const exists = await runQuery(conn, `SELECT to_regclass('vecshard.migrations') IS NOT NULL`);
  let done = new Set<number>();
  if (exists.rows[0][0] === 't') {
    done = new Set((await runQuery(conn, 'SELECT version FROM vecshard.migrations')).rows.map((r) => Number(r[0])));
  }
  const files = fs.readdirSync(MIGRATIONS_DIR).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const todo = files.filter((f) => !done.has(parseInt(f, 10)));
  if (!todo.length) return;
  let sql = todo.map((f) => fs.readFileSync(path.join(MIGRATIONS_DIR, f), 'utf8')).join('\n');
  const role = conn.backend.role;
  if (role !== undefined) {
    // The catalog belongs to vecshard's own user, not to the client's role this connection acts as.
    if (!conn.serviceUser) {
      throw new PgError({ severity: 'ERROR', code: '42501', message: `vecshard: the catalog of this database needs an upgrade, which role "${role}" may not make`, hint: 'Run the statement again outside a transaction block (vecshard then upgrades it as its own user).' });
    }
    sql = `SET SESSION AUTHORIZATION ${quoteIdent(conn.serviceUser)}; ${sql}; SET SESSION AUTHORIZATION ${quoteIdent(role)}`;
  }
  if (inTransaction) return void (await runQuery(conn, sql));
  await runQuery(conn, `BEGIN; ${sql}; COMMIT`).catch(async (e) => {
    await runQuery(conn, 'ROLLBACK').catch(() => {});
    throw e;
  });
}

/** Reads the catalog; an empty one where vecshard was never used in this database. */
export async function loadCatalog(conn: NodeConnection): Promise<Catalog> {
  const cat = new Catalog();
  const exists = await runQuery(conn, `SELECT to_regclass('vecshard.tables') IS NOT NULL`);
  if (exists.rows[0][0] !== 't') return cat;
  // Upgrades run in a transaction of their own, so not from inside a client's.
  if (conn.status === 'I' && conn.backend.role === undefined) await migrate(conn);
  cat.version = Number((await runQuery(conn, `SELECT coalesce((SELECT (to_jsonb(s)->>'version')::bigint FROM vecshard.catalog_state s), -1)`)).rows[0][0]);
  const tables = await runQuery(conn, 'SELECT schema_name, table_name, method, dist_column, dist_type, metric FROM vecshard.tables');
  for (const [schema, name, method, col, type, metric] of tables.rows) {
    cat.tables.set(Catalog.key(schema!, name!), {
      schema: schema!,
      name: name!,
      columns: [],
      method: method as DistributedTable['method'],
      distColumn: col,
      distType: type,
      shards: [],
      ...(metric ? { metric: metric as Metric } : {}),
    });
  }
  for (const t of cat.tables.values()) t.columns = await readColumns(conn, t.schema, t.name);
  const shards = await runQuery(
    conn,
    `SELECT s.schema_name, s.table_name, s.shard_id, s.shard_index, s.shard_name, s.min_hash, s.max_hash,
            coalesce(string_agg(p.node_id::text, ',' ORDER BY p.node_id) FILTER (WHERE p.state = 'active'), ''),
            s.centroid, s.radius_l2, s.radius_angle
       FROM vecshard.shards s LEFT JOIN vecshard.placements p USING (shard_id)
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 9, 10, 11 ORDER BY s.shard_index`,
  );
  for (const [schema, name, id, index, shardName, min, max, nodes, centroid, rl2, rangle] of shards.rows) {
    const centroidVec = centroid ? parseVector(centroid) : undefined;
    cat.get(schema!, name!)?.shards.push({
      id: Number(id),
      index: Number(index),
      name: shardName!,
      minHash: Number(min),
      maxHash: Number(max),
      nodes: nodes ? nodes.split(',').map(Number) : [],
      ...(centroidVec ? { geometry: { centroid: centroidVec, radiusL2: Number(rl2), radiusAngle: Number(rangle) } } : {}),
    });
  }
  cat.views = await loadViews(conn, cat.tables);
  const calibrated = await runQuery(conn, `SELECT to_regclass('vecshard.calibration') IS NOT NULL`);
  if (calibrated.rows[0][0] !== 't') return cat;
  const points = await runQuery(conn, `SELECT schema_name, table_name, operator, ef_search, recall, k, queries, table_rows, coalesce((to_jsonb(c)->>'probes')::int, 0) FROM vecshard.calibration c ORDER BY 9, ef_search`);
  for (const [schema, name, op, ef, recall, k, queries, rows, probes] of points.rows) {
    const t = cat.get(schema!, name!);
    if (!t) continue;
    t.calibration ??= new Map();
    const list = t.calibration.get(op!) ?? [];
    list.push({ probes: Number(probes), efSearch: Number(ef), recall: Number(recall), k: Number(k), queries: Number(queries), tableRows: Number(rows) });
    t.calibration.set(op!, list);
  }
  return cat;
}

/** SQL that records a new distributed table with its shards and placements. */
export function registerTableSql(t: DistributedTable): string {
  const lit = (v: string | null | undefined) => (v == null ? 'NULL' : quoteLiteral(v));
  const parts = [
    `INSERT INTO vecshard.tables (schema_name, table_name, method, dist_column, dist_type, shard_count, metric) VALUES (${quoteLiteral(t.schema)}, ${quoteLiteral(t.name)}, ${quoteLiteral(t.method)}, ${lit(t.distColumn)}, ${lit(t.distType)}, ${t.shards.length}, ${lit(t.metric)})`,
  ];
  for (const s of t.shards) {
    const g = s.geometry;
    parts.push(
      `INSERT INTO vecshard.shards (shard_id, schema_name, table_name, shard_index, shard_name, min_hash, max_hash, centroid, radius_l2, radius_angle) VALUES (${s.id}, ${quoteLiteral(t.schema)}, ${quoteLiteral(t.name)}, ${s.index}, ${quoteLiteral(s.name)}, ${s.minHash}, ${s.maxHash}, ${lit(g && formatVector(g.centroid))}, ${g ? g.radiusL2 : 'NULL'}, ${g ? g.radiusAngle : 'NULL'})`,
      // Two statements: the placements' row-level security policy must see the shard's row (migrations/004).
      `INSERT INTO vecshard.placements (shard_id, node_id) SELECT ${s.id}, n FROM unnest(ARRAY[${s.nodes.join(',')}]::int[]) n`,
    );
  }
  parts.push(`SELECT setval(pg_get_serial_sequence('vecshard.shards', 'shard_id'), ${Math.max(...t.shards.map((s) => s.id))})`);
  return parts.join(';\n');
}

/** The columns of a table as node 0 has them. */
export async function readColumns(conn: NodeConnection, schema: string, name: string): Promise<Column[]> {
  const rel = quoteLiteral(`${quoteIdent(schema)}.${quoteIdent(name)}`);
  const r = await runQuery(
    conn,
    `SELECT a.attname, t.typname, pg_get_expr(d.adbin, d.adrelid), a.attidentity,
            pg_get_serial_sequence(${rel}, a.attname)
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = ${rel}::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
      ORDER BY a.attnum`,
  );
  return r.rows.map(([col, type, def, identity, seq]) => {
    let sequenceDefault: string | null = null;
    if (identity) sequenceDefault = `nextval(${quoteLiteral(seq!)}::regclass)`;
    else if (def && /nextval\(/.test(def)) sequenceDefault = def;
    return { name: col!, type: type!, default: identity ? sequenceDefault : def, sequenceDefault };
  });
}
