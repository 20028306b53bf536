// create_distributed_table: shard tables on the nodes with the shell's columns, constraints and indexes, the
// shell's rows moved into them, and the catalog rows, in that order.
import { parseSql } from '../sql/parse.ts';
import { deparse } from '../sql/ast.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import { tableAccess } from './access.ts';
import { moveRows } from './move-rows.ts';
import { ANNOUNCE, BUMP_VERSION, migrate, readColumns, registerTableSql, SHARD_SCHEMA, type DistributedTable, type Shard } from '../metadata/catalog.ts';
import { HASHERS, hashRange } from '../metadata/hash.ts';
import { kmeans } from '../index/kmeans.ts';
import { opclassMetric, type Metric } from '../index/distance.ts';
import { parseVector, type Vec } from '../index/vector.ts';
import * as fe from '../protocol/frontend.ts';
import { readErrorFields } from '../protocol/backend.ts';
import { PgError } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { shardObjectName } from '../metadata/names.ts';

export interface DistributeRequest {
  schema: string;
  name: string;
  /** Named without a schema: the session's search_path finds it (public until then). */
  unqualified?: boolean;
  column: string | null;
  shardCount: number;
  /** Copies of each shard, on distinct nodes. */
  replicationFactor: number;
  method: 'hash' | 'reference' | 'clustered';
  /** Clustered: the metric (else the column's vector index opclass's, else l2) and centroids (else k-means). */
  metric?: Metric;
  centroids?: number[][];
}

const err = (code: string, message: string, hint?: string) => new PgError({ severity: 'ERROR', code, message, hint });

/** `items` shard 7 -> items_0007 (schema-qualified names other than public keep their schema in the name). */
export function shardName(schema: string, name: string, index: number): string {
  const base = schema === 'public' ? name : `${schema}_${name}`;
  return shardObjectName(base, index);
}

/** CREATE statements that make shard `shard` of the shell `schema.name`, read from `home`'s catalog. */
/**
 * CREATE SCHEMA when the schema is missing. Not CREATE SCHEMA IF NOT EXISTS: that needs the CREATE privilege on the
 * database even when the schema exists, which a table's owner need not have.
 */
export function schemaIfMissing(schema: string): string {
  return `DO $vecshard$ BEGIN IF to_regnamespace(${quoteLiteral(quoteIdent(schema))}) IS NULL THEN CREATE SCHEMA ${quoteIdent(schema)}; END IF; END $vecshard$`;
}

/** The schema `conn`'s search_path finds relation `name` in, as Postgres resolves an unqualified name. */
export async function schemaOf(conn: NodeConnection, name: string): Promise<string | undefined> {
  const r = await runQuery(conn, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(${quoteLiteral(quoteIdent(name))})`);
  return r.rows[0]?.[0] ?? undefined;
}

/**
 * Makes a shell refuse rows (migrations/009_shell_guard.sql): a row written to it by a statement vecshard never
 * sees (in a function, a DO block, through a view) would miss the shards. Fires in replica mode too.
 */
export function shellGuard(rel: string): string[] {
  return [`CREATE TRIGGER vecshard_shell BEFORE INSERT ON ${rel} FOR EACH ROW EXECUTE FUNCTION vecshard.refuse_shell_write()`, `ALTER TABLE ${rel} ENABLE ALWAYS TRIGGER vecshard_shell`];
}

export async function shardDdl(home: NodeConnection, schema: string, name: string): Promise<(shard: string, index: number) => string[]> {
  const make = await tableDdl(home, schema, name);
  return (shard, index) => make(SHARD_SCHEMA, shard, index);
}

/**
 * CREATE statements for a table like `schema.name` (columns, constraints, indexes) under another name, with
 * the shard's number on constraint and index names (none for the shell). Sequence defaults are left out of shards (the coordinator assigns those
 * values); a `shell` keeps them, with sequences of its own, so the catalog read from any node knows the column
 * draws from a sequence.
 */
export async function tableDdl(
  home: NodeConnection,
  schema: string,
  name: string,
  shell = false,
): Promise<(toSchema: string, toName: string, shardIndex?: number) => string[]> {
  const rel = quoteLiteral(`${quoteIdent(schema)}.${quoteIdent(name)}`);
  const cols = await runQuery(
    home,
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity
       FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
      WHERE a.attrelid = ${rel}::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
  );
  const cons = await runQuery(home, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = ${rel}::regclass AND contype IN ('p', 'u', 'c', 'x') ORDER BY oid`);
  const idx = await runQuery(
    home,
    `SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = ${rel}::regclass
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY i.indexrelid`,
  );
  const access = await tableAccess(home, schema, name);
  return (toSchema, toName, shardIndex) => {
    const rename = (n: string) => (shardIndex === undefined ? n : shardObjectName(n, shardIndex));
    const sequences: string[] = [];
    const defs = cols.rows.map(([col, type, notnull, def, generated, identity]) => {
      let s = `${quoteIdent(col!)} ${type}`;
      const seq = def && /nextval\('((?:[^']|'')+)'::regclass\)/.exec(def)?.[1];
      if (generated === 's') s += ` GENERATED ALWAYS AS (${def}) STORED`;
      else if (shell && identity) s += ` GENERATED ${identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY`;
      else if (shell && seq) {
        sequences.push(`CREATE SEQUENCE IF NOT EXISTS ${seq.replace(/''/g, "'")}`);
        s += ` DEFAULT ${def}`;
      } else if (def && !identity && !seq) s += ` DEFAULT ${def}`;
      if (notnull === 't') s += ' NOT NULL';
      return s;
    });
    for (const [con, def] of cons.rows) defs.push(`CONSTRAINT ${quoteIdent(rename(con!))} ${def}`);
    const out = [...sequences, `CREATE TABLE ${quoteIdent(toSchema)}.${quoteIdent(toName)} (${defs.join(', ')})`];
    for (const [def] of idx.rows) {
      const parsed = parseSql(def!);
      if (parsed instanceof Error) throw parsed;
      const stmt = parsed[0].stmt;
      stmt.IndexStmt.relation = { schemaname: toSchema, relname: toName, inh: true, relpersistence: 'p' };
      stmt.IndexStmt.idxname = stmt.IndexStmt.idxname ? rename(stmt.IndexStmt.idxname) : undefined;
      out.push(deparse(stmt));
    }
    out.push(...access(`${quoteIdent(toSchema)}.${quoteIdent(toName)}`));
    return out;
  };
}

/**
 * Distributes the table `req.schema.req.name` of node `homeId`. `conn(i)` gives this session's connection to node
 * i. The table stays on every node as an empty shell, and the catalog rows go to every node in one two-phase
 * commit. Returns the table as the catalog now has it.
 */
export async function distributeTable(
  req: DistributeRequest,
  members: number[],
  homeId: number,
  conn: (node: number) => Promise<NodeConnection>,
  /** Commits the catalog change on every node; undefined inside a client's transaction block, whose COMMIT does it. */
  commit: ((home: NodeConnection, others: NodeConnection[]) => Promise<void>) | undefined,
): Promise<DistributedTable> {
  const inTransaction = !commit;
  const home = await conn(homeId);
  const rel = `${quoteIdent(req.schema)}.${quoteIdent(req.name)}`;
  const exists = await runQuery(home, `SELECT to_regclass(${quoteLiteral(rel)}) IS NOT NULL`);
  if (exists.rows[0][0] !== 't') throw err('42P01', `relation "${req.name}" does not exist`);
  const nodeCount = members.length;
  for (const n of members) await migrate(await conn(n), inTransaction);
  const already = await runQuery(home, `SELECT 1 FROM vecshard.tables WHERE schema_name = ${quoteLiteral(req.schema)} AND table_name = ${quoteLiteral(req.name)}`);
  if (already.rows.length) throw err('42P07', `table "${req.name}" is already distributed`);

  const columns = await readColumns(home, req.schema, req.name);
  let distType: string | null = null;
  if (req.method === 'hash') {
    const col = columns.find((c) => c.name === req.column);
    if (!col) throw err('42703', `column "${req.column}" of relation "${req.name}" does not exist`);
    if (!HASHERS[col.type]) {
      throw err('0A000', `vecshard: cannot distribute "${req.name}" by column "${req.column}" of type ${col.type}`, `Use a column of type ${Object.keys(HASHERS).join(', ')}.`);
    }
    distType = col.type;
    const bad = await runQuery(
      home,
      `SELECT conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
        WHERE c.conrelid = ${quoteLiteral(rel)}::regclass AND c.contype IN ('p', 'u', 'x')
          AND NOT (SELECT attnum FROM pg_attribute WHERE attrelid = c.conrelid AND attname = ${quoteLiteral(req.column!)}) = ANY (c.conkey)`,
    );
    if (bad.rows.length) {
      const [con, def] = bad.rows[0];
      throw err(
        '0A000',
        `vecshard: cannot distribute "${req.name}": constraint "${con}" (${def}) does not include the distribution column "${req.column}"`,
        `Each shard can only enforce uniqueness within itself. Add "${req.column}" to the key, e.g. PRIMARY KEY (id, ${req.column}), or distribute by a column the key contains.`,
      );
    }
  }
  let metric: Metric | undefined;
  let centroids: Vec[] | undefined;
  if (req.method === 'clustered') {
    const col = columns.find((c) => c.name === req.column);
    if (!col) throw err('42703', `column "${req.column}" of relation "${req.name}" does not exist`);
    if (col.type !== 'vector') throw err('0A000', `vecshard: clustered distribution needs a vector column; "${req.column}" is ${col.type}`);
    const bad = await runQuery(home, `SELECT conname FROM pg_constraint WHERE conrelid = ${quoteLiteral(rel)}::regclass AND contype IN ('p', 'u', 'x')`);
    if (bad.rows.length) {
      throw err('0A000', `vecshard: cannot distribute "${req.name}" by cluster: constraint "${bad.rows[0][0]}" cannot be enforced across shards`, 'A clustered table\'s rows move between shards with their vectors, so no key can be checked within one shard. Drop the constraint, or distribute by hash.');
    }
    metric = req.metric ?? (await indexMetric(home, rel, req.column!)) ?? 'l2';
    centroids = req.centroids ? req.centroids.map((c) => Float32Array.from(c)) : await sampleCentroids(home, rel, req.column!, req.shardCount, metric);
    distType = 'vector';
  }
  const fks = await runQuery(home, `SELECT conname FROM pg_constraint WHERE (conrelid = ${quoteLiteral(rel)}::regclass OR confrelid = ${quoteLiteral(rel)}::regclass) AND contype = 'f'`);
  if (fks.rows.length) throw err('0A000', `vecshard: foreign keys on distributed tables are not supported yet (constraint "${fks.rows[0][0]}")`);

  const shardCount = req.method === 'reference' ? 1 : req.shardCount;
  // Shard ids are chosen here so that every catalog copy has the same ones.
  const firstId = Number((await runQuery(home, 'SELECT coalesce(max(shard_id), 0) + 1 FROM vecshard.shards')).rows[0][0]);
  const shards: Shard[] = Array.from({ length: shardCount }, (_, i) => {
    const [minHash, maxHash] = hashRange(i, shardCount);
    // Copy j of shard i lives on node (i + j) mod N: distinct nodes, spread evenly.
    const copies = req.method === 'reference' ? nodeCount : Math.min(req.replicationFactor, nodeCount);
    const nodes = Array.from({ length: copies }, (_, j) => members[(i + j) % nodeCount]);
    const geometry = centroids ? { geometry: { centroid: centroids[i], radiusL2: 0, radiusAngle: 0 } } : {};
    return { id: firstId + i, index: i, name: shardName(req.schema, req.name, i), minHash: req.method === 'hash' ? minHash : 0, maxHash: req.method === 'hash' ? maxHash : 0, nodes, ...geometry };
  });
  const table: DistributedTable = { schema: req.schema, name: req.name, columns, method: req.method, distColumn: req.column, distType, shards, ...(metric ? { metric } : {}) };

  // The extensions the shell's types come from, and the shard schema, on every node.
  const exts = await runQuery(home, `SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'`);
  // (The shard schema came with the catalog.)
  const prep = exts.rows.map(([e]) => `CREATE EXTENSION IF NOT EXISTS ${quoteIdent(e!)}`).join('; ') || 'SELECT 1';
  const ddl = await shardDdl(home, req.schema, req.name);
  const created: Array<[number, string]> = [];
  try {
    for (const n of members) await runQuery(await conn(n), prep);
    // One statement at a time per node connection; nodes in parallel.
    await forEachNode(shards, async (n, list) => {
      const c = await conn(n);
      for (const s of list) {
        await runQuery(c, ddl(s.name, s.index).join('; '));
        created.push([n, s.name]);
      }
    });
    await moveRows(home, rel, table, conn);
    // Every node gets the catalog rows and (but node `homeId`, which has the table) an empty shell, atomically.
    const shell = await tableDdl(home, req.schema, req.name, true);
    const all = await Promise.all(members.map((n) => conn(n)));
    if (inTransaction) {
      for (const c of all) {
        const own = [...(c === home ? [`TRUNCATE ${rel}`, ANNOUNCE] : [schemaIfMissing(req.schema), ...shell(req.schema, req.name)]), ...shellGuard(rel)];
        await runQuery(c, [...own, registerTableSql(table), BUMP_VERSION].join(';\n'));
      }
      return table;
    }
    try {
      for (const c of all) {
        await migrate(c);
        const own = [...(c === home ? [`TRUNCATE ${rel}`, ANNOUNCE] : [schemaIfMissing(req.schema), ...shell(req.schema, req.name)]), ...shellGuard(rel)];
        await runQuery(c, ['BEGIN', ...own, registerTableSql(table), BUMP_VERSION].join(';\n'));
      }
      await commit!(home, all.filter((c) => c !== home));
    } catch (e) {
      await Promise.all(all.map((c) => runQuery(c, 'ROLLBACK').catch(() => {})));
      throw e;
    }
  } catch (e) {
    // Inside a transaction block the client's ROLLBACK undoes the shards too.
    if (!inTransaction) for (const [n, s] of created) await runQuery(await conn(n), `DROP TABLE IF EXISTS ${SHARD_SCHEMA}.${quoteIdent(s)}`).catch(() => {});
    throw e;
  }
  return table;
}

/** Copies the shell's rows into the shards (COPY out of node 0, routed, COPY into each shard). */
/** Runs `fn` once per node with that node's shards, nodes in parallel. */
export async function forEachNode(shards: Shard[], fn: (node: number, shards: Shard[]) => Promise<void>): Promise<void> {
  const byNode = new Map<number, Shard[]>();
  for (const s of shards) for (const n of s.nodes) byNode.set(n, [...(byNode.get(n) ?? []), s]);
  // Every node's part ends before an error is reported: the caller's rollback must not meet one still running.
  const done = await Promise.allSettled([...byNode].map(([n, list]) => fn(n, list)));
  const failed = done.find((d) => d.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Text-format lines (without their newlines; as text, or as the bytes a client sent) as CopyData frames of about
 * 64 KiB, in one buffer: each line is written once, straight into its frame.
 */
export function copyDataFrames(lines: ReadonlyArray<string | Buffer>, newline = true): Buffer {
  const nl = newline ? 1 : 0;
  const sizes = lines.map((l) => (typeof l === 'string' ? Buffer.byteLength(l) : l.length) + nl);
  let frames = 0;
  let total = 0;
  for (let i = 0, bytes = 65536; i < sizes.length; i++) {
    if (bytes >= 65536) {
      frames++;
      bytes = 0;
    }
    bytes += sizes[i];
    total += sizes[i];
  }
  const out = Buffer.allocUnsafe(total + 5 * frames);
  let off = 0;
  let head = -1;
  const close = () => {
    if (head >= 0) out.writeInt32BE(off - head - 1, head + 1);
  };
  for (let i = 0, bytes = 65536; i < lines.length; i++) {
    if (bytes >= 65536) {
      close();
      head = off;
      out[off] = 0x64; // CopyData
      off += 5;
      bytes = 0;
    }
    const l = lines[i];
    off += typeof l === 'string' ? out.write(l, off, 'utf8') : l.copy(out, off);
    if (newline) out[off++] = 0x0a;
    bytes += sizes[i];
  }
  close();
  return out;
}

/**
 * Runs COPY ... FROM STDIN on `c` with text-format `lines` (or binary tuples after `header`, for a COPY in binary
 * format); throws the node's error.
 */
export async function copyLines(c: NodeConnection, copySql: string, lines: ReadonlyArray<string | Buffer>, progress?: (sent: number) => void, header?: Buffer): Promise<number> {
  const first = await c.startCopyIn(fe.query(copySql));
  const last = first[first.length - 1];
  if (last[0] !== 0x47) {
    const e = first.find((f) => f[0] === 0x45);
    throw new PgError(e ? readErrorFields(e) : { severity: 'ERROR', code: 'XX000', message: 'COPY did not start' });
  }
  if (header) c.write(fe.copyData(header));
  // Sent in parts, yielding between them, so progress can be watched while a large copy runs.
  const PART = 10_000;
  for (let i = 0; i < lines.length; i += PART) {
    c.write(copyDataFrames(lines.slice(i, i + PART), !header));
    progress?.(Math.min(i + PART, lines.length));
    await new Promise((r) => setImmediate(r));
  }
  c.write(fe.copyDone());
  let n = 0;
  let error: Buffer | undefined;
  await c.readUntilReady((f) => {
    if (f[0] === 0x43) n = Number(/\d+$/.exec(f.toString('latin1', 5, f.length - 1))?.[0] ?? 0);
    if (f[0] === 0x45) error ??= f;
  });
  if (error) {
    throw new PgError(readErrorFields(error));
  }
  return n;
}

/** The metric of a vector index on the column, if there is one. */
async function indexMetric(home: NodeConnection, rel: string, column: string): Promise<Metric | undefined> {
  const r = await runQuery(
    home,
    `SELECT opc.opcname FROM pg_index i JOIN pg_opclass opc ON opc.oid = i.indclass[0]
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = ${quoteLiteral(rel)}::regclass AND a.attname = ${quoteLiteral(column)}`,
  );
  for (const [name] of r.rows) {
    const m = opclassMetric(name!);
    if (m) return m;
  }
  return undefined;
}

/** k-means centroids (fixed seed) from the table's rows: all of them, or a repeatable sample of about 20,000. */
async function sampleCentroids(home: NodeConnection, rel: string, column: string, k: number, metric: Metric): Promise<Vec[]> {
  const col = quoteIdent(column);
  const count = Number((await runQuery(home, `SELECT count(${col}) FROM ${rel}`)).rows[0][0]);
  if (count < k) {
    throw err('22023', `vecshard: cannot compute ${k} centroids from ${count} rows of "${column}"`, `Load at least ${k} rows first, or pass centroids => '[[...], ...]' with one vector per shard.`);
  }
  const sample = count > 20000 ? ` TABLESAMPLE BERNOULLI (${Math.min(100, (100 * 20000) / count)}) REPEATABLE (42)` : '';
  const rows = (await runQuery(home, `SELECT ${col}::text FROM ${rel}${sample} WHERE ${col} IS NOT NULL`)).rows;
  const points = rows.map(([t]) => parseVector(t!)!).filter(Boolean);
  if (points.length < k) throw err('22023', `vecshard: the sample of "${column}" has ${points.length} rows, fewer than ${k} shards`, `Pass centroids => '[[...], ...]' with one vector per shard.`);
  return kmeans(points, k, metric);
}
