// vecshard.calibrate('t'): how recall follows hnsw.ef_search (and, on a clustered table, how many of the nearest
// shards are visited). Rows of the table are taken as queries; each is answered exactly (every shard scanned, no
// index) and approximately at each setting of a grid, the way the planner runs a kNN query (LIMIT k per shard,
// ef_search raised to it, the nearest shards by centroid), and recall@k is kept per operator in the catalog.
// SET vecshard.target_recall then picks the settings that reached the target for the least work (target-recall.ts).
import { PgError } from '../errors.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import { SHARD_SCHEMA } from '../metadata/catalog.ts';
import { writeCatalog } from '../metadata/catalog-copies.ts';
import { runQuery } from '../shards/internal-query.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import type { RunContext } from '../executor/context.ts';
import { runTasks } from '../executor/shard-tasks.ts';
import { placeReads } from '../executor/placement.ts';
import { NO_PARAMS } from '../planner/params.ts';
import type { ShardTask } from '../planner/types.ts';
import * as be from '../protocol/backend.ts';
import { Held } from '../executor/portal-stream.ts';
import { nearestShards } from '../planner/target-recall.ts';
import { parseVector } from '../index/vector.ts';

/** ef_search values measured: pgvector's range is 1..1000. */
export const EF_GRID = [10, 16, 24, 32, 40, 56, 80, 112, 160, 224, 320, 480, 640, 1000];
const OPERATORS: Record<string, string> = { vector_l2_ops: '<->', vector_cosine_ops: '<=>', vector_ip_ops: '<#>', vector_l1_ops: '<+>' };

export interface CalibrateOptions {
  queries: number;
  k: number;
}

/** What calibrating needs: connections to the nodes (the session's, or a background run's own). */
export type CalibrateContext = Pick<RunContext, 'conn' | 'home' | 'cluster' | 'database' | 'nextTurn' | 'catalogChanged'>;

/** Calibrates every HNSW index of `table`; returns how many (operator, ef_search) points were kept. */
export async function calibrate(ctx: CalibrateContext, table: DistributedTable, o: CalibrateOptions = { queries: 100, k: 10 }): Promise<number> {
  if (table.method === 'reference') throw new PgError({ severity: 'ERROR', code: '0A000', message: `vecshard.calibrate: "${table.name}" is a reference table (one copy per node, nothing to calibrate)` });
  const home = await ctx.conn(ctx.home);
  const rel = quoteLiteral(`${quoteIdent(table.schema)}.${quoteIdent(table.name)}`);
  const indexes = await runQuery(
    home,
    `SELECT a.attname, opc.opcname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam
       JOIN pg_opclass opc ON opc.oid = i.indclass[0] JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      WHERE i.indrelid = ${rel}::regclass AND am.amname = 'hnsw'`,
  );
  const found = indexes.rows.filter(([, opc]) => OPERATORS[opc!]).map(([col, opc]) => ({ column: col!, op: OPERATORS[opc!] }));
  if (!found.length) throw new PgError({ severity: 'ERROR', code: '55000', message: `vecshard.calibrate: "${table.name}" has no HNSW index to calibrate`, hint: 'CREATE INDEX ... USING hnsw first.' });
  const statements: string[] = [];
  const counts = await runTasks(ctx.conn, placeReads(table.shards.map((sh) => ({ nodeId: sh.nodes[0], shard: sh.name, shardIndex: sh.index, sql: `SELECT count(*) FROM ${SHARD_SCHEMA}.${quoteIdent(sh.name)}`, params: NO_PARAMS })), table, ctx.cluster, ctx.nextTurn()), [], false, () => {});
  const tableRows = counts.reduce((n, r) => n + Number(be.readDataRow(r.rows[0])[0]), 0);
  for (const { column, op } of found) {
    const queries = await sample(ctx, table, column, o.queries);
    if (!queries.length) throw new PgError({ severity: 'ERROR', code: '55000', message: `vecshard.calibrate: "${table.name}" has no rows to calibrate with` });
    // One after another: they share the session's connection to each node.
    const truth: string[][] = [];
    for (const q of queries) truth.push(await nearest(ctx, table, column, op, q, o.k, undefined));
    const key = `${quoteLiteral(table.schema)}, ${quoteLiteral(table.name)}, ${quoteLiteral(op)}`;
    statements.push(`DELETE FROM vecshard.calibration WHERE (schema_name, table_name, operator) = (${key})`);
    for (const probes of probeSteps(table, column)) {
      let [last, flat, best] = [-1, 0, 0];
      for (const ef of EF_GRID) {
        let hits = 0;
        for (let i = 0; i < queries.length; i++) {
          const got = await nearest(ctx, table, column, op, queries[i], o.k, ef, probes);
          hits += got.filter((id) => truth[i].includes(id)).length;
        }
        const recall = hits / (queries.length * o.k);
        best = Math.max(best, recall);
        statements.push(`INSERT INTO vecshard.calibration (schema_name, table_name, operator, probes, ef_search, recall, k, queries, table_rows) VALUES (${key}, ${probes}, ${ef}, ${recall}, ${o.k}, ${queries.length}, ${tableRows})`);
        if (recall >= 0.9995) break; // higher settings cannot do better
        // Few shards visited hold only so many of the true neighbours: past that, ef_search buys nothing.
        flat = recall - last < 0.002 ? flat + 1 : 0;
        if (probes && flat >= 2) break;
        last = recall;
      }
      if (best >= 0.9995) break; // visiting more shards cannot do better
    }
  }
  await writeCatalog(ctx.cluster, ctx.database, statements.join(';\n'));
  await ctx.catalogChanged();
  return statements.length - found.length;
}

/** The numbers of nearest shards a clustered table is measured at (0, every shard: hash tables, other columns). */
function probeSteps(table: DistributedTable, column: string): number[] {
  if (table.method !== 'clustered' || column !== table.distColumn) return [0];
  const n = table.shards.length;
  const steps = new Set<number>();
  for (let p = 1; p < n; p = Math.max(p + 1, Math.round(p * 1.5))) steps.add(p);
  return [...steps, n];
}

/** About `n` vectors of the table, spread over its shards, each with the row it came from (left out of its answers). */
async function sample(ctx: CalibrateContext, table: DistributedTable, column: string, n: number): Promise<Array<{ vector: string; self: string }>> {
  const per = Math.ceil(n / table.shards.length);
  const tasks: ShardTask[] = table.shards.map((s) => ({
    nodeId: s.nodes[0],
    shard: s.name,
    shardIndex: s.index,
    // A fixed sample (the same rows each time) keeps repeated calibrations comparable.
    sql: `SELECT ctid::text, ${quoteIdent(column)}::text FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)} WHERE ${quoteIdent(column)} IS NOT NULL ORDER BY md5(ctid::text) LIMIT ${per}`,
    params: NO_PARAMS,
  }));
  const results = await runTasks(ctx.conn, placeReads(tasks, table, ctx.cluster, ctx.nextTurn()), [], false, () => {});
  const rows = results.flatMap((r) => r.rows.map((row) => be.readDataRow(row).map((b) => b!.toString('utf8'))).map(([ctid, vector]) => ({ vector, self: `${r.task.shardIndex}:${ctid}` })));
  return rows.slice(0, n);
}

/**
 * The ids (shard:ctid) of the k rows nearest `q` other than itself: exactly (ef undefined: no index) or as the
 * planner's kNN runs at that ef_search (LIMIT k+1 on every shard, ef_search at least that).
 */
async function nearest(ctx: CalibrateContext, table: DistributedTable, column: string, op: string, q: { vector: string; self: string }, k: number, ef: number | undefined, probes = 0): Promise<string[]> {
  const dist = `${quoteIdent(column)} ${op} ${quoteLiteral(q.vector)}`; // the literal takes the column's type (vector, halfvec)
  const before = ef === undefined ? [] : [`SELECT set_config('hnsw.ef_search', '${Math.max(ef, k + 1)}', true)`];
  const visit = probes ? new Set(nearestShards(table, parseVector(q.vector)!, probes)) : undefined;
  const tasks: ShardTask[] = table.shards.filter((s) => !visit || visit.has(s.index)).map((s) => ({
    nodeId: s.nodes[0],
    shard: s.name,
    shardIndex: s.index,
    sql: `SELECT ctid::text, (${dist})::float8 FROM ${SHARD_SCHEMA}.${quoteIdent(s.name)} ORDER BY ${ef === undefined ? `(${dist}) + 0` : dist} LIMIT ${k + 1}`,
    params: NO_PARAMS,
    before,
  }));
  const results = await runTasks(ctx.conn, placeReads(tasks, table, ctx.cluster, ctx.nextTurn()), [], false, () => {});
  const rows = results.flatMap((r) => r.rows.map((row) => be.readDataRow(row).map((b) => b!.toString('utf8'))).map(([ctid, d]) => ({ id: `${r.task.shardIndex}:${ctid}`, d: Number(d) })));
  return rows
    .filter((r) => r.id !== q.self)
    .sort((a, b) => a.d - b.d)
    .slice(0, k)
    .map((r) => r.id);
}

/** Rows written to calibrated tables since their calibration, by database and table; and runs under way. */
const written = new Map<string, number>();
const running = new Set<string>();

/**
 * Counts rows a statement wrote to `table`; once they reach a fifth of the rows it had when calibrated, it is
 * calibrated again in the background, on connections of its own (not on embedded nodes: their one connection is
 * the clients'). A failed run is logged; the old calibration stays.
 */
export function rowsWritten(ctx: RunContext, table: DistributedTable, n: number): void {
  const first = table.calibration?.values().next().value?.[0];
  if (!first || n <= 0) return;
  const key = `${ctx.database}\0${table.schema}.${table.name}`;
  const total = (written.get(key) ?? 0) + n;
  written.set(key, total);
  if (total < Math.max(1000, first.tableRows / 5) || running.has(key)) return;
  if (!ctx.cluster.members().every((m) => ctx.cluster.nodes[m].kind === 'postgres')) return;
  running.add(key);
  written.set(key, 0);
  const held = new Held(ctx);
  let turn = 0;
  const bg: CalibrateContext = {
    conn: (node) => held.conn(node),
    home: ctx.home,
    cluster: ctx.cluster,
    database: ctx.database,
    nextTurn: () => turn++,
    catalogChanged: async () => ctx.cluster.invalidateCatalog(ctx.database),
  };
  void calibrate(bg, table, { queries: first.queries, k: first.k })
    .then(() => ctx.log.info({ table: `${table.schema}.${table.name}`, rows: total }, 'recall calibration refreshed after writes'))
    .catch((e: unknown) => ctx.log.warn({ err: e, table: `${table.schema}.${table.name}` }, 'refreshing the recall calibration failed'))
    .finally(() => {
      running.delete(key);
      void held.release();
    });
}
