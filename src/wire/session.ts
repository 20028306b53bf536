import path from 'node:path';
// One client's session: takes its protocol messages in order, runs them on node connections, answers in order.
import { createHash, randomInt } from 'node:crypto';
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { classify, classifyPlain, mayName, quoteProbesAll } from '../sql/classify.ts';
import { parseSql, stmtKind, stmtText, type RawStmt } from '../sql/parse.ts';
import { planQuery } from '../planner/plan.ts';
import { planLabel, planStatement, protectedError, vecshardFunction, type StatementPlan, type CopyPlan } from '../planner/distributed.ts';
import { changesProtected } from '../sql/protected.ts';
import { distributedTables } from '../planner/relations.ts';
import { readBind, NO_PARAMS, type BoundParams } from '../planner/params.ts';
import type { DistributedPlan, DdlPlan, ShardTask } from '../planner/types.ts';
import type { AggregatePlan } from '../planner/aggregate.ts';
import { explainLines, type ExplainOptions } from '../planner/explain.ts';
import { runTasks, runTasksSettled, shardStatementsStale, type TaskResult } from '../executor/shard-tasks.ts';
import { placeReads, placeWrites, deactivate, onePerShard } from '../executor/placement.ts';
import { gatherRows, lastColumnNumber, stripColumns, stripDescription } from '../executor/gather.ts';
import { mayContribute } from '../index/bounds.ts';
import { planDropIndex } from '../planner/ddl.ts';
import { constText, walk, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import { copyOutLine, type CopyOutFormat } from '../executor/copy-rows.ts';
import { distributeTable, copyLines } from '../operations/distribute.ts';
import { repairDatabase, rebalance, moveShardPlacement } from '../operations/repair.ts';
import { addNode, removeNode } from '../operations/membership.ts';
import { recluster } from '../operations/recluster.ts';
import { parseNodeUrl } from '../shards/pg-node.ts';
import { commitDistributed, rollbackAll } from '../executor/transaction.ts';
import { DistCopyIn } from '../executor/copy.ts';
import { CopyStreams } from '../executor/copy-stream.ts';
import { relocateRows } from '../executor/relocate.ts';
import { BUMP_VERSION, loadCatalog, type Catalog } from '../metadata/catalog.ts';
import { openCatalog, requireAllNodes, writeCatalog } from '../metadata/catalog-copies.ts';
import { runQuery } from '../shards/internal-query.ts';
import { applySettings, readSettings, settingsKey, startupSettings, type Settings } from '../executor/settings.ts';
import { deallocatesAll, type NodeConnection, type TxStatus } from '../shards/node-connection.ts';
import type { Cluster, NodeSpec } from '../shards/cluster.ts';
import type { Logger } from 'pino';
import { PgError, ShardError, isConnectionFailure, isLost, standInRefusal } from '../errors.ts';
import { quoteIdent, quoteLiteral, quoteName } from '../sql/quote.ts';

interface PreparedStatement {
  sql: string;
  paramTypes: number[];
  /** Name on node connections: shared by every session that prepares the same text and types. */
  nodeName: string;
  /** For the unnamed statement: which Parse this is, so a connection parsed by someone else parses again. */
  owner: object;
  pins: boolean;
  changesSettings: boolean;
  /** The parsed statement, when it touches distributed tables (as the catalog stood at Parse). */
  distributed?: RawStmt;
  /** vecshard's functions: no node knows them, so vecshard answers every message itself; this is the row they return. */
  coordinatorOnly?: Buffer;
}

/** A portal bound to a distributed statement: run by the coordinator, not by node 0. */
interface DistributedPortal {
  stmt: RawStmt;
  sql: string;
  params: BoundParams;
  resultFormats: number[];
  /** Rows not yet handed out (after an Execute with a row limit), and the CommandComplete that ends them. */
  pending?: { rows: Buffer[]; complete: Buffer };
  /** For vecshard's functions, the RowDescription a Describe of the portal gets. */
  coordinatorOnly?: Buffer;
}

type EntryKind = 'parse' | 'bind' | 'describe-S' | 'describe-P' | 'execute' | 'close' | 'sync';

/** One expected answer from the node (or one vecshard gives itself), in the order the client must see it. */
interface Entry {
  kind: EntryKind;
  /** Forward the node's answer to the client (false for statements vecshard prepares on its own). */
  forward: boolean;
  /** An answer vecshard gives without the node. */
  synthetic?: Buffer;
  /** The node's error is replaced by this one (used to abort the node's transaction with vecshard's error). */
  replaceError?: Buffer;
  nodeName?: string;
  /** The client's Parse this answers: refused by the node, the client's statement does not exist either. */
  parsed?: { name: string; st: PreparedStatement };
}

export interface SessionContext {
  cluster: Cluster;
  database: string;
  user: string;
  startupParams: Record<string, string>;
  send(data: Buffer): void;
  flush(): Promise<void>;
  log: Logger;
  slowQueryMs?: number;
}

export class ClientSession {
  readonly pid = randomInt(1, 2 ** 31 - 1);
  readonly secret = randomInt(0, 2 ** 31 - 1);
  #settings: Settings;
  #settingsKey: string;
  /** Node connections this session holds: node 0 (home) for passthrough, others for distributed work. */
  #conns = new Map<number, NodeConnection>();
  /** Nodes other than node 0 where the client's open transaction has begun. */
  #txNodes = new Set<number>();
  #portals = new Map<string, DistributedPortal>();
  /** Rotates reads over the copies of each shard. */
  #turn = 0;
  #distCopy: DistCopyIn | undefined;
  #pinned = false;
  #refreshSettings = false;
  /** Dotted settings this session has set (placeholders are not in pg_settings). */
  #customSettings = new Set<string>();
  #status: TxStatus = 'I';
  /** The open transaction's SET LOCAL statements: every node the transaction reaches runs them. */
  #localSets: string[] = [];
  /** What they set, for planning (vecshard.exact, vecshard.probes, ...); null for SET LOCAL ... TO DEFAULT. */
  #localValues = new Map<string, string | null>();

  /** The SET LOCAL statements a connection in the transaction has run (part of its shard statements' names). */
  get #localKey(): string {
    return this.#localSets.join(';');
  }
  #statements = new Map<string, PreparedStatement>();
  // The extended-protocol batch being built until Sync or Flush.
  #out: Buffer[] = [];
  #entries: Entry[] = [];
  #batchFailed = false;
  #copyIn = false;
  closed = false;

  #homeId = -1;

  /**
   * The node this session's statements on ordinary tables (and transaction bookkeeping) go to: node 0 unless it is
   * down. Chosen again only between transactions, when the session holds no connection to it.
   */
  get #home(): number {
    if (this.#homeId < 0 || (this.#status === 'I' && !this.#pinned && !this.#conns.has(this.#homeId))) {
      this.#homeId = this.ctx.cluster.homeNode(this.ctx.database);
    }
    return this.#homeId;
  }

  get #conn(): NodeConnection | undefined {
    return this.#conns.get(this.#home);
  }

  constructor(readonly ctx: SessionContext) {
    this.#settings = startupSettings(ctx.startupParams);
    this.#settingsKey = settingsKey(this.#settings);
  }

  /** Checks the database and settings on a node connection, then greets the client as Postgres does. */
  async start(): Promise<void> {
    const conn = await this.#acquire();
    const params = new Map(conn.params);
    await this.#release();
    for (const [k, v] of params) this.ctx.send(be.parameterStatus(k, v));
    this.ctx.send(be.backendKeyData(this.pid, this.secret));
    this.ctx.send(be.readyForQuery('I'));
    await this.ctx.flush();
  }

  async handle(frame: Buffer): Promise<void> {
    const type = String.fromCharCode(frame[0]);
    try {
      if (this.#copyIn) return await this.#copyMessage(type, frame);
      switch (type) {
        case 'Q':
          return await this.#simpleQuery(frame);
        case 'P':
          return await this.#parse(frame);
        case 'B':
          return await this.#bind(frame);
        case 'D':
          return await this.#describe(frame);
        case 'E':
          return await this.#execute(frame);
        case 'C':
          return await this.#close(frame);
        case 'S':
          return await this.#sync();
        case 'H':
          return await this.#flushBatch();
        case 'd':
        case 'c':
        case 'f':
          return; // stray COPY messages after a failed COPY are dropped, as Postgres does
        default:
          throw new PgError({ severity: 'FATAL', code: '08P01', message: `invalid frontend message type ${frame[0]}` });
      }
    } catch (e) {
      await this.#fail(e, 'PBDECH'.includes(type));
    }
  }

  // ---- simple query ----

  async #simpleQuery(frame: Buffer): Promise<void> {
    let sql = fe.readQuery(frame);
    const quoted = quoteProbesAll(sql);
    if (quoted !== sql) frame = fe.query((sql = quoted));
    const t0 = performance.now();
    // A plain statement that names no distributed table goes to the home node as it is, without being parsed.
    const plain = this.#home === 0 && this.#txNodes.size === 0 ? classifyPlain(sql) : undefined;
    const catalog0 = plain ? await this.#catalog() : undefined;
    const q = plain && !mayName(sql, catalog0!, () => [...catalog0!.tables.values()].map((t) => t.name)) ? plain : classify(sql);
    this.#parseMs = performance.now() - t0;
    for (const n of q.customSettings) this.#customSettings.add(n);
    const plan = planQuery(q, this.#status !== 'I');
    switch (plan.kind) {
      case 'error':
        await this.#abortNodeTransaction();
        this.ctx.send(be.errorResponse(plan.error));
        return this.#ready(this.#status === 'I' ? 'I' : 'E');
      case 'createdb':
        await this.ctx.cluster.createDatabase(plan.name, plan.text);
        this.ctx.send(be.commandComplete('CREATE DATABASE'));
        return this.#ready('I');
      case 'dropdb':
        if (plan.name === this.ctx.database) {
          throw new PgError({ severity: 'ERROR', code: '55006', message: 'cannot drop the currently open database' });
        }
        if (!(await this.ctx.cluster.dropDatabase(plan.name, plan.text, plan.ifExists))) {
          this.ctx.send(be.noticeResponse({ severity: 'NOTICE', code: '00000', message: `database "${plan.name}" does not exist, skipping` }));
        }
        this.ctx.send(be.commandComplete('DROP DATABASE'));
        return this.#ready('I');
    }
    const catalog = catalog0 ?? (await this.#catalog());
    const fast = q === plain || q.unparsed || (catalog.empty && !q.allNodes && this.#txNodes.size === 0 && !/create_distributed_table|create_reference_table|citus|vecshard\./i.test(sql));
    if (fast && (this.#home === 0 || q.unparsed)) {
      if (plan.kind === 'copy-in') return this.#startCopyIn(frame, q.pins);
      const conn = await this.#acquire();
      if (q.pins) this.#pinned = true;
      if (q.changesSettings) this.#refreshSettings = true;
      const t0 = performance.now();
      conn.write(frame);
      await this.#relayUntilReady(conn);
      this.#observe(sql, { kind: 'passthrough' }, performance.now() - t0);
      return this.#afterReady();
    }
    // Statement by statement: each is planned against the catalog and runs where it must.
    if (q.pins) this.#pinned = true;
    if (q.changesSettings) this.#refreshSettings = true;
    const stmts = parseSql(sql) as RawStmt[];
    // Several statements outside a transaction form one implicit transaction, as on Postgres, unless one of them
    // cannot run inside one.
    const implicit =
      stmts.length > 1 &&
      this.#status === 'I' &&
      !/create_distributed_table|create_reference_table/i.test(sql) &&
      !stmts.some((r) => ['TransactionStmt', 'VacuumStmt'].includes(stmtKind(r)) || r.stmt.IndexStmt?.concurrent);
    if (implicit) {
      await runQuery(await this.#acquire(this.#home), 'BEGIN');
      this.#status = 'T';
    }
    let ok = true;
    for (const raw of stmts) {
      const text = stmtText(sql, raw);
      const p = await this.#plan(raw, text, NO_PARAMS, await this.#catalog());
      if (p.kind === 'copy-in' || (p.kind === 'passthrough' && stmtKind(raw) === 'CopyStmt' && raw.stmt.CopyStmt.is_from && !raw.stmt.CopyStmt.filename)) {
        if (stmts.length > 1) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN must be the only statement in its query string' });
        if (p.kind === 'copy-in') return this.#startDistCopyIn(p);
        return this.#startCopyIn(frame, q.pins);
      }
      const t0 = performance.now();
      const done = await this.#runStatement(raw, text, p, [], true);
      this.#observe(text, p, performance.now() - t0);
      if (!done) {
        ok = false;
        break;
      }
    }
    if (implicit) {
      const home = await this.#acquire(this.#home);
      const others = await Promise.all([...this.#txNodes].map((n) => this.#acquire(n)));
      this.#txNodes.clear();
      if (ok && this.#status === 'T') await commitDistributed(home, others, true);
      else await rollbackAll([home, ...others]);
      this.#status = 'I';
    }
    this.ctx.send(be.readyForQuery(this.#status));
    return this.#afterReady();
  }

  #catalog(): Promise<Catalog> {
    if (this.#txCatalog) {
      if (this.#status !== 'I') return Promise.resolve(this.#txCatalog);
      this.#txEnded();
    }
    return openCatalog(this.ctx.cluster, this.ctx.database, this.ctx.log, this.#conns.get(this.#home));
  }

  /**
   * This session's view of the catalog while its open transaction has changed it (uncommitted, so only the home
   * connection sees it); everyone else keeps the committed catalog until the transaction ends.
   */
  #txCatalog: Catalog | undefined;

  async #catalogChangedInTx(): Promise<void> {
    this.#txCatalog = await loadCatalog(await this.#acquire(this.#home));
  }

  /** After COMMIT or ROLLBACK: drop the private catalog; a commit may have changed everyone's. */
  #txEnded(): void {
    if (!this.#txCatalog) return;
    this.#txCatalog = undefined;
    this.ctx.cluster.invalidateCatalog(this.ctx.database);
  }

  // Coordinator time of the statement being run, for cluster.stats (benchmark P5): parse, plan, shard wait, merge.
  #parseMs = 0;
  #planMs = 0;
  #shardMs = 0;

  async #plan(raw: RawStmt, text: string, params: BoundParams, catalog: Catalog): Promise<StatementPlan> {
    const t0 = performance.now();
    try {
      return await this.#planNow(raw, text, params, catalog);
    } finally {
      this.#planMs = performance.now() - t0;
    }
  }

  #planNow(raw: RawStmt, text: string, params: BoundParams, catalog: Catalog): Promise<StatementPlan> {
    return planStatement(raw, text, {
      catalog,
      params,
      settings: this.#localValues.size ? withLocal(this.#settings, this.#localValues) : this.#settings,
      nodeCount: this.ctx.cluster.members().length,
      evalDefault: (expr, n) => this.#evalDefault(expr, n),
      nodes: this.ctx.cluster.nodes.map((n, id) => ({
        id,
        kind: n.kind,
        host: n.kind === 'postgres' ? n.host : n.dataDir,
        port: n.kind === 'postgres' ? n.port : null,
        health: n.removed ? 'removed' : this.ctx.cluster.isUp(id) ? 'up' : 'down',
      })),
      tasks: this.ctx.cluster.tasks,
    });
  }

  async #evalDefault(expr: string, n: number): Promise<Array<string | null>> {
    if (this.#home !== 0) {
      throw new PgError({
        severity: 'ERROR',
        code: '55000',
        message: `vecshard: node 0 is down, and the sequence behind ${expr} lives there`,
        hint: 'Give the column a value explicitly until node 0 is back.',
      });
    }
    const r = await runQuery(await this.#acquire(), `SELECT ${expr} FROM generate_series(1, ${n})`);
    return r.rows.map((row) => row[0]);
  }

  /**
   * Runs one planned statement, sending its results (not ReadyForQuery). Returns false after an error, which it
   * has reported. `describe` sends a RowDescription first (simple protocol).
   */
  async #runStatement(raw: RawStmt, text: string, plan: StatementPlan, resultFormats: number[], describe: boolean, rethrow = false): Promise<boolean> {
    try {
      if (stmtKind(raw) === 'TransactionStmt' && this.#txNodes.size) return await this.#endDistributedTx(raw);
      switch (plan.kind) {
        case 'passthrough': {
          if (this.#home !== 0 && !readsOnly(raw)) throw standInRefusal();
          const conn = await this.#acquire();
          conn.write(fe.query(plan.sql ?? text));
          let ok = true;
          this.#status = await conn.readUntilReady((f) => {
            if (f[0] === 0x45) ok = false;
            this.#passOn(f);
          });
          if (this.#status === 'I') this.#txEnded();
          if (ok && this.#status === 'T' && isLocalSet(raw)) await this.#spreadLocalSet(raw, plan.sql ?? text, conn);
          return ok;
        }
        case 'notice':
          this.ctx.send(be.noticeResponse({ severity: 'NOTICE', code: '00000', message: plan.message }));
          this.ctx.send(be.commandComplete(plan.tag));
          return true;
        case 'error':
          throw new PgError(plan.error);
        case 'distribute': {
          requireAllNodes(this.ctx.cluster, this.ctx.database, plan.req.method === 'reference' ? 'create_reference_table' : 'create_distributed_table');
          // In a transaction block (migration tools run each migration in one) every node's part waits for COMMIT.
          const inTx = this.#status !== 'I';
          await distributeTable(plan.req, this.ctx.cluster.members(), this.#home, (n) => this.#acquire(n), inTx ? undefined : (home, others) => commitDistributed(home, others, true));
          if (inTx) await this.#catalogChangedInTx();
          else this.ctx.cluster.invalidateCatalog(this.ctx.database);
          if (describe) this.ctx.send(be.rowDescription([{ name: raw.stmt.SelectStmt.targetList[0].ResTarget.name ?? 'create_distributed_table', typeOid: 2278, typeSize: 4 }]));
          this.ctx.send(be.dataRow(['']));
          this.ctx.send(be.commandComplete('SELECT 1'));
          return true;
        }
        case 'distributed':
          if (plan.relocate) await this.#runRelocate(plan);
          else await this.#runDistributed(plan, resultFormats, describe);
          return true;
        case 'admin': {
          if (this.#status !== 'I') throw new PgError({ severity: 'ERROR', code: '25001', message: `vecshard.${plan.name} cannot run inside a transaction block` });
          const { cluster, database, log } = this.ctx;
          let n = 0;
          if (plan.name === 'repair') n = await repairDatabase(cluster, database, log);
          else if (plan.name === 'rebalance') n = await rebalance(cluster, database, log);
          else if (plan.name === 'recluster') {
            const rel = plan.args[0];
            const [schema, name] = rel?.includes('.') ? rel.split('.', 2) : ['public', rel];
            const table = name ? (await this.#catalog()).get(schema, name) : undefined;
            if (!table) throw new PgError({ severity: 'ERROR', code: '42P01', message: `vecshard.recluster: "${rel ?? ''}" is not a distributed table` });
            n = await recluster(cluster, database, table, log);
          } else if (plan.name === 'add_node') {
            n = await addNode(cluster, nodeToAdd(cluster, plan.args[0]), log);
            cluster.onMembershipChange();
          } else if (plan.name === 'remove_node') {
            const id = Number(plan.args[0]);
            if (!Number.isInteger(id)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.remove_node(node_id) takes the node id (see vecshard.nodes)' });
            n = await removeNode(cluster, id, log);
            cluster.onMembershipChange();
          } else {
            const [shard, from, to] = plan.args.map(Number);
            if (![shard, from, to].every(Number.isInteger)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.move_shard_placement(shard_id, from_node, to_node) takes three integers' });
            await moveShardPlacement(cluster, database, shard, from, to, log);
          }
          if (describe) this.ctx.send(be.rowDescription([{ name: plan.name, typeOid: 23, typeSize: 4 }]));
          this.ctx.send(be.dataRow([String(n)]));
          this.ctx.send(be.commandComplete('SELECT 1'));
          return true;
        }
        case 'aggregate':
          await this.#runAggregate(plan, resultFormats, describe);
          return true;
        case 'explain':
          await this.#runExplain(plan.inner, plan.options, describe);
          return true;
        case 'ddl':
          await this.#runDdl(plan, text);
          return true;
        case 'copy-out':
          await this.#runCopyOut(plan);
          return true;
        case 'drop-index':
          return await this.#runDropIndex(raw, text, plan.stmt, plan.indexes, resultFormats, describe);
        case 'copy-query':
          await this.#runCopyQuery(raw, text, plan.inner, plan.out);
          return true;
        case 'copy-in':
          throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN into a distributed table is supported in the simple query protocol only' });
      }
    } catch (e) {
      const fields = e instanceof PgError || e instanceof ShardError ? e.fields : undefined;
      if (!fields || rethrow) throw e;
      await this.#abortNodeTransaction();
      this.ctx.send(be.errorResponse(fields));
      return false;
    }
  }

  /** A connection for each node the tasks use; with the client in a transaction, that node's transaction begins. */
  #taskConn = (nodeId: number) => this.#acquire(nodeId);

  async #runDistributed(plan: DistributedPlan, resultFormats: number[], describe: boolean): Promise<void> {
    this.#shardMs = 0;
    if (plan.prune && !plan.write) {
      const { hiddenBinary } = hiddenFormats(plan, resultFormats);
      const results = await this.#prunedKnn(plan, resultFormats, describe, hiddenBinary);
      return this.#deliver(plan, results, describe, hiddenBinary);
    }
    await this.#runTasksOf(plan, resultFormats, describe, (results, hiddenBinary) => this.#deliver(plan, results, describe, hiddenBinary));
  }

  /**
   * UPDATE of a clustered table's vector: the update on every copy, then the rows now nearer another centroid
   * taken out and copied into that shard's copies, radii grown to cover the new vectors, all in one transaction
   * (the client's, or one of its own).
   */
  async #runRelocate(plan: DistributedPlan): Promise<void> {
    const { cluster, database } = this.ctx;
    const table = plan.table;
    // Rows may land on any shard: every shard's write lock.
    const unlock = await this.#lockShards({ ...plan, tasks: table.shards.map((s) => ({ nodeId: 0, shard: s.name, shardIndex: s.index, sql: '', params: NO_PARAMS })) });
    const implicit = this.#status === 'I';
    const notices = (f: Buffer) => this.ctx.send(f);
    try {
      if (implicit) {
        await runQuery(await this.#acquire(this.#home), 'BEGIN');
        this.#status = 'T';
      }
      const count = await relocateRows(plan, { cluster, database, conn: this.#taskConn, growRadii: (sql) => this.#growRadii(sql), notices });
      if (implicit) {
        const home = await this.#acquire(this.#home);
        const others = await Promise.all([...this.#txNodes].map((n) => this.#acquire(n)));
        this.#txNodes.clear();
        await commitDistributed(home, others, true);
        this.#status = 'I';
      }
      this.ctx.send(be.commandComplete(`UPDATE ${count}`));
    } catch (e) {
      if (implicit) {
        const conns = [...this.#conns.values()];
        this.#txNodes.clear();
        await rollbackAll(conns);
        this.#status = 'I';
      }
      throw e;
    } finally {
      for (const u of unlock) u();
    }
  }

  /** What the last exact-pruned kNN visited, for EXPLAIN ANALYZE. */
  #lastPrune: { visited: number[]; pruned: number[]; kth: number } | undefined;

  /**
   * Exact kNN on a clustered table: the first shards (lowest bounds) at once, then only the shards whose lower
   * bound does not exceed the k-th distance found. One further round suffices: the k-th distance only shrinks.
   */
  async #prunedKnn(plan: DistributedPlan, resultFormats: number[], describe: boolean, hiddenBinary: boolean): Promise<TaskResult[]> {
    const spec = plan.prune!;
    const round = async (shards: number[], withDescribe: boolean) => {
      const set = new Set(shards);
      let out: TaskResult[] = [];
      if (!set.size) return out;
      await this.#runTasksOf({ ...plan, tasks: plan.tasks.filter((t) => set.has(t.shardIndex)), prune: undefined }, resultFormats, withDescribe, (r) => (out = r));
      return out;
    };
    const firstShards = spec.order.slice(0, spec.first);
    const first = await round(firstShards, describe);
    const best = gatherRows(first, { kind: 'knn', limit: spec.k, offset: 0, desc: false, nullsFirst: false }, hiddenBinary);
    const d = best.length >= spec.k ? lastColumnNumber(best[spec.k - 1], hiddenBinary) : null;
    const kth = d === null || Number.isNaN(d) ? Infinity : d;
    const rest = spec.order.slice(spec.first);
    const visit = rest.filter((i) => mayContribute(spec.bounds.get(i)!, kth));
    const second = await round(visit, describe && !first.length);
    this.#lastPrune = { visited: [...firstShards, ...visit], pruned: rest.filter((i) => !visit.includes(i)), kth };
    return [...first, ...second];
  }

  async #runTasksOf(plan: DistributedPlan, resultFormats: number[], describe: boolean, done: (results: TaskResult[], hiddenBinary: boolean) => void): Promise<void> {
    const cluster = this.ctx.cluster;
    const { formats, hiddenBinary } = hiddenFormats(plan, resultFormats);
    // Writes hold their shards' write locks until done, so a repair never copies a shard mid-write.
    const unlock = plan.write ? await this.#lockShards(plan) : [];
    try {
      await this.#growRadii(plan.growRadii);
      for (let attempt = 0; ; attempt++) {
        let tasks: ShardTask[];
        if (plan.write) {
          const placed = placeWrites(plan.tasks, plan.table, cluster);
          await deactivate(cluster, this.ctx.database, placed.lost);
          tasks = placed.tasks;
        } else tasks = placeReads(plan.tasks, plan.table, cluster, this.#turn++);
        const nodes = [...new Set(tasks.map((t) => t.nodeId))];
        // An autocommit write on several nodes gets a transaction of its own, committed in two phases.
        const ownTx = plan.write && nodes.length > 1 && this.#status === 'I';
        const errors = new Map<number, Error>();
        if (ownTx) {
          await Promise.all(
            nodes.map(async (n) => {
              try {
                await runQuery(await this.#acquire(n), 'BEGIN');
              } catch (e) {
                errors.set(n, e as Error);
              }
            }),
          );
        }
        const live = tasks.filter((t) => !errors.has(t.nodeId));
        const t0 = performance.now();
        const run = await runTasksSettled(this.#taskConn, live, formats, describe, (f) => this.ctx.send(f));
        this.#shardMs += performance.now() - t0;
        for (const [n, e] of run.failures) errors.set(n, e);
        const failed = new Set(errors.keys());
        const lost = [...failed].filter((n) => isLost(errors.get(n)));
        if (failed.size) {
          for (const n of lost) {
            cluster.markDown(n);
            await this.#dropConn(n);
          }
          const onlyLostNodes = lost.length === failed.size;
          const canRetryRead = !plan.write && onlyLostNodes && this.#status === 'I' && attempt < 2;
          if (canRetryRead) continue; // another copy serves the shards of the lost node
          // A write survives a lost node when every shard still has a copy that took it: that copy is deactivated.
          const survivors = new Set(live.filter((t) => !failed.has(t.nodeId)).map((t) => t.shardIndex));
          const covered = plan.tasks.every((t) => survivors.has(t.shardIndex));
          if (!(plan.write && ownTx && onlyLostNodes && covered)) {
            if (ownTx) await rollbackAll(await Promise.all(nodes.filter((n) => !failed.has(n)).map((n) => this.#acquire(n))));
            // A statement error outranks a lost node in what the client hears.
            throw [...errors.values()].find((e) => !isLost(e)) ?? [...errors.values()][0];
          }
          await deactivate(
            cluster,
            this.ctx.database,
            tasks.filter((t) => failed.has(t.nodeId)).map((t) => ({ shard: plan.table.shards[t.shardIndex], nodeId: t.nodeId })),
          );
        }
        if (ownTx) {
          const ok = nodes.filter((n) => !failed.has(n));
          const conns = await Promise.all(ok.map((n) => this.#acquire(n)));
          const home = await this.#acquire(this.#home);
          try {
            await commitDistributed(home, conns.filter((c) => c !== home), ok.includes(this.#home));
          } catch (e) {
            await rollbackAll(conns);
            throw e;
          }
        }
        done(onePerShard(run.results, failed), hiddenBinary);
        return;
      }
    } finally {
      for (const u of unlock) u();
    }
  }

  #deliver(plan: DistributedPlan, results: TaskResult[], describe: boolean, hiddenBinary: boolean): void {
    const t0 = performance.now();
    try {
      this.#deliverNow(plan, results, describe, hiddenBinary);
    } finally {
      if (plan.merge.kind === 'knn') this.ctx.cluster.stats.record(this.#parseMs + this.#planMs, this.#shardMs, performance.now() - t0);
    }
  }

  #deliverNow(plan: DistributedPlan, results: TaskResult[], describe: boolean, hiddenBinary: boolean): void {
    const desc = results[0]?.description;
    if (describe && desc && desc[0] === 0x54) this.ctx.send(stripDescription(desc, plan.hidden));
    const rows = gatherRows(results, plan.merge, hiddenBinary);
    for (const r of rows) this.ctx.send(stripColumns(r, plan.hidden));
    const count = (tag: string) => Number(/(\d+)$/.exec(tag)?.[1] ?? 0);
    const total = results.reduce((n, r) => n + count(r.tag), 0);
    const tag = plan.command === 'SELECT' ? `SELECT ${rows.length}` : plan.command === 'INSERT' ? `INSERT 0 ${total}` : `${plan.command} ${total}`;
    this.ctx.send(be.commandComplete(tag));
  }

  /** Clustered tables: the catalog's radii grow to cover rows about to be written, before they are. */
  async #growRadii(sql: string | undefined): Promise<void> {
    if (!sql) return;
    await writeCatalog(this.ctx.cluster, this.ctx.database, sql, (n) => this.#conns.get(n));
  }

  /** Shared write locks on the shards a write touches, in shard order (no deadlock with a repair). */
  async #lockShards(plan: DistributedPlan): Promise<Array<() => void>> {
    const ids = [...new Set(plan.tasks.map((t) => plan.table.shards[t.shardIndex].id))].sort((a, b) => a - b);
    const out: Array<() => void> = [];
    for (const id of ids) out.push(await this.ctx.cluster.shardLock(id).shared());
    return out;
  }

  /** Forgets this session's connection to a node that was lost. */
  async #dropConn(nodeId: number): Promise<void> {
    const c = this.#conns.get(nodeId);
    if (!c) return;
    this.#conns.delete(nodeId);
    this.#txNodes.delete(nodeId);
    c.close();
    await this.ctx.cluster.pool(c.nodeId, c.database).release(c, false);
  }

  async #runAggregate(plan: AggregatePlan, resultFormats: number[], describe: boolean): Promise<void> {
    const partial = await runTasks(this.#taskConn, placeReads(plan.tasks, plan.table, this.ctx.cluster, this.#turn++), [], true, (f) => this.ctx.send(f));
    const fields = be.readRowDescription(partial[0].description!);
    const home = await this.#acquire(this.#home);
    const names = await typeNames(home, fields.map((f) => f.typeOid));
    const type = (c: string) => names.get(fields[Number(c.slice(1))].typeOid)!;
    const rows = partial.flatMap((r) => r.rows.map(be.readDataRow));
    const params: BoundParams = { values: rows.flat(), formats: rows.flat().map(() => 0), types: rows.flat().map(() => 0) };
    if (params.values.length > 60000) {
      throw new PgError({ severity: 'ERROR', code: '54000', message: `vecshard: ${rows.length} partial rows are too many to combine on node 0`, hint: 'Add a LIMIT, or filter on the distribution column.' });
    }
    const cols = fields.map((_, i) => `c${i}`).join(', ');
    let k = 0;
    const source = rows.length
      ? `(VALUES ${rows.map((r) => `(${r.map((_, i) => `$${++k}::${type(`c${i}`)}`).join(', ')})`).join(', ')}) AS p(${cols})`
      : `(SELECT ${fields.map((_, i) => `NULL::${type(`c${i}`)} AS c${i}`).join(', ')} WHERE false) AS p`;
    const sql = plan
      .combine(source, fields.map((f) => f.name))
      .replace(/\$\{type:(c\d+)\}/g, (_, c: string) => type(c))
      .replace(/\$\{avg:(c\d+)\}/g, (_, c: string) => (/double|real/.test(type(c)) ? 'double precision' : 'numeric'));
    const [final] = await runTasks(this.#taskConn, [{ nodeId: this.#home, shard: '(combine)', shardIndex: 0, sql, params }], resultFormats, describe, (f) => this.ctx.send(f));
    if (describe && final.description?.[0] === 0x54) this.ctx.send(final.description);
    for (const r of final.rows) this.ctx.send(r);
    this.ctx.send(be.commandComplete(`SELECT ${final.rows.length}`));
  }

  async #runExplain(inner: DistributedPlan | AggregatePlan, options: ExplainOptions, describe: boolean): Promise<void> {
    const header: string[] = [];
    if (inner.kind === 'distributed' && inner.prune) {
      // Which shards an exact clustered kNN skips is known only by running it: ANALYZE runs it; plain EXPLAIN lists
      // the bounds and the order.
      const spec = inner.prune;
      const name = (i: number) => inner.table.shards[i].name;
      const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(6) : String(x));
      if (options.analyze) {
        this.#lastPrune = undefined;
        await this.#prunedKnn(inner, [], false, false);
        const p = this.#lastPrune!;
        header.push(`  Shards visited: ${p.visited.length} of ${inner.table.shards.length} (k-th distance ${fmt(p.kth)})`);
        for (const i of p.pruned) header.push(`  Pruned: ${name(i)} (lower bound ${fmt(spec.bounds.get(i)!)} > k-th distance ${fmt(p.kth)})`);
        const visited = new Set(p.visited);
        inner = { ...inner, tasks: inner.tasks.filter((t) => visited.has(t.shardIndex)) };
      } else {
        header.push(`  First round: ${spec.order.slice(0, spec.first).map(name).join(', ')}`);
        for (const i of spec.order.slice(spec.first)) header.push(`  Then if its lower bound ${fmt(spec.bounds.get(i)!)} is not above the k-th distance: ${name(i)}`);
      }
    } else if (inner.kind === 'distributed' && inner.table.method === 'clustered' && inner.merge.kind === 'knn') {
      const visited = new Set(inner.tasks.map((t) => t.shardIndex));
      header.push(`  Shards visited: ${visited.size} of ${inner.table.shards.length}; not visited: ${inner.table.shards.filter((s) => !visited.has(s.index)).map((s) => s.name).join(', ') || '(none)'}`);
    }
    const explained = inner.tasks.map((t) => ({ ...t, sql: `EXPLAIN (${options.shardOptions || 'COSTS true'}) ${t.sql}` }));
    const timings: number[] = [];
    const plans: string[][] = [];
    // One task at a time, so each shard's timing is its own.
    for (const t of explained) {
      const t0 = performance.now();
      const [r] = await runTasks(this.#taskConn, [t], [], false, (f) => this.ctx.send(f));
      timings.push(performance.now() - t0);
      plans.push(r.rows.map((row) => be.readDataRow(row)[0]!.toString('utf8')));
    }
    const merge =
      inner.kind === 'aggregate'
        ? '  Combine: partial rows merged by a query on node 0'
        : inner.merge.kind === 'knn'
          ? `  Merge: by distance${inner.merge.desc ? ' (descending)' : ''}, then OFFSET ${inner.merge.offset} LIMIT ${inner.merge.limit === Infinity ? 'ALL' : inner.merge.limit}`
          : inner.merge.kind === 'concat'
            ? `  Merge: concatenate${inner.merge.limit === Infinity ? '' : `, then OFFSET ${inner.merge.offset} LIMIT ${inner.merge.limit}`}`
            : '  Merge: rows in the order of the VALUES list';
    const lines = explainLines([`Custom Scan (vecshard)  table: ${inner.table.schema}.${inner.table.name}`, `  Strategy: ${inner.strategy}`, ...header, merge], inner.tasks, plans, options, timings);
    if (describe) this.ctx.send(be.rowDescription([{ name: 'QUERY PLAN', typeOid: 25 }]));
    for (const l of lines) this.ctx.send(be.dataRow([l]));
    this.ctx.send(be.commandComplete('EXPLAIN'));
  }

  async #runDdl(plan: DdlPlan, text: string): Promise<void> {
    // Shard statements prepared on node connections before (or while) the tables change are not used again.
    shardStatementsStale();
    try {
      await this.#runDdlNow(plan, text);
    } finally {
      shardStatementsStale();
    }
  }

  async #runDdlNow(plan: DdlPlan, text: string): Promise<void> {
    const { cluster, database } = this.ctx;
    requireAllNodes(cluster, database, 'changing a distributed table');
    const home = await this.#acquire(this.#home);
    // The shell and the catalog rows are on every node; the home node's answer is the one the client sees.
    const everywhere = cluster.members();
    const nodes = [...new Set([...everywhere, ...plan.tasks.map((t) => t.nodeId)])];
    let tag = '';
    // Changes to catalog rows bump every copy's version; all copies change together (every node takes part).
    const catalog = plan.catalog.length ? [...plan.catalog, BUMP_VERSION] : [];
    const sql = plan.transactional ? [plan.shell, ...catalog].join(';\n') : plan.shell;
    const shell = async () => {
      home.write(fe.query(sql));
      let error: be.PgErrorFields | undefined;
      const notices: Buffer[] = [];
      await home.readUntilReady((f) => {
        if (f[0] === 0x45) error ??= be.readErrorFields(f);
        if (f[0] === 0x43 && !tag) tag = be.readCommandTag(f);
        if (f[0] === 0x4e) notices.push(f);
      });
      for (const n of notices) this.ctx.send(n);
      if (error) throw new PgError(error);
      for (const n of everywhere) {
        if (n === home.nodeId) continue;
        const c = await this.#acquire(n);
        await runQuery(c, sql);
      }
      if (!plan.transactional && catalog.length) {
        for (const n of everywhere) await runQuery(await this.#acquire(n), catalog.join(';\n'));
      }
    };
    if (!plan.transactional || this.#status !== 'I') {
      // In the client's transaction (or where none may be used) the statements simply run in turn.
      await shell();
      await runTasks(this.#taskConn, plan.tasks, [], false, () => {});
    } else {
      await Promise.all(nodes.map(async (n) => runQuery(await this.#acquire(n), 'BEGIN')));
      try {
        await shell();
        await runTasks(this.#taskConn, plan.tasks, [], false, () => {});
        const conns = await Promise.all(nodes.map((n) => this.#acquire(n)));
        await commitDistributed(home, conns.filter((c) => c !== home), true);
      } catch (e) {
        await rollbackAll(await Promise.all(nodes.map((n) => this.#acquire(n))));
        throw e;
      }
    }
    if (this.#status !== 'I') await this.#catalogChangedInTx();
    else cluster.invalidateCatalog(database);
    this.ctx.send(be.commandComplete(tag || text.trim().split(/\s+/).slice(0, 2).join(' ').toUpperCase()));
  }

  async #runCopyOut(plan: CopyPlan): Promise<void> {
    const t = plan.table;
    const cols = plan.columns.map(quoteName).join(', ');
    const opts = plan.format === 'csv' ? ' WITH (FORMAT csv)' : '';
    const tasks = t.shards.map((s) => ({ nodeId: s.nodes[0], shard: s.name, shardIndex: s.index, sql: '', params: NO_PARAMS }));
    this.ctx.send(be.copyOutResponse(0, plan.columns.length));
    if (plan.header && plan.format === 'csv') this.ctx.send(fe.copyData(Buffer.from(plan.columns.join(',') + '\n')));
    let rows = 0;
    for (const task of tasks) {
      const conn = await this.#acquire(task.nodeId);
      conn.write(fe.query(`COPY vecshard_shards."${task.shard}" (${cols}) TO STDOUT${opts}`));
      let error: be.PgErrorFields | undefined;
      await conn.readUntilReady((f) => {
        if (f[0] === 0x64) this.ctx.send(f);
        else if (f[0] === 0x43) rows += Number(/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0);
        else if (f[0] === 0x45) error ??= be.readErrorFields(f);
      });
      if (error) throw new PgError(error);
    }
    this.ctx.send(fe.copyDone());
    this.ctx.send(be.commandComplete(`COPY ${rows}`));
  }

  /** Counts and times a statement (metrics, status page); logs it with its plan when slow. */
  #observe(text: string, plan: StatementPlan, ms: number): void {
    const kind = planLabel(plan);
    this.ctx.cluster.metrics.statement(kind, ms);
    const slow = this.ctx.slowQueryMs ?? 1000;
    if (ms < slow) return;
    const detail =
      plan.kind === 'distributed' || plan.kind === 'aggregate'
        ? { strategy: 'strategy' in plan ? plan.strategy : 'aggregate across shards, combined on the home node', shards: plan.tasks.map((t) => `${t.shard}@node${t.nodeId}`), shardSql: plan.tasks[0]?.sql }
        : {};
    this.ctx.log.warn({ ms: Math.round(ms * 10) / 10, kind, sql: text.length > 2000 ? text.slice(0, 2000) + '…' : text, ...detail }, 'slow query');
  }

  /** DROP INDEX: on every shard too when the index is on a distributed table; straight to node 0 otherwise. */
  async #runDropIndex(raw: RawStmt, text: string, stmt: Node, indexes: Array<{ schema: string | undefined; name: string }>, resultFormats: number[], describe: boolean): Promise<boolean> {
    const catalog = await this.#catalog();
    const home = await this.#acquire(this.#home);
    const targets: Array<{ table: DistributedTable; using: string }> = [];
    let local = 0;
    for (const ix of indexes) {
      const rel = quoteLiteral(ix.schema ? `${quoteIdent(ix.schema)}.${quoteIdent(ix.name)}` : quoteIdent(ix.name));
      const r = await runQuery(
        home,
        `SELECT n.nspname, t.relname, substring(pg_get_indexdef(x.indexrelid) from ' USING .*') FROM pg_index x
           JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace WHERE x.indexrelid = to_regclass(${rel})`,
      );
      const [schema, name, using] = r.rows[0] ?? [];
      const table = schema && name ? catalog.get(schema, name) : undefined;
      if (table) targets.push({ table, using: using! });
      else local++;
    }
    if (!targets.length) return this.#runStatement(raw, text, { kind: 'passthrough' }, resultFormats, describe, true);
    if (local) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: DROP INDEX of indexes on distributed and other tables in one statement is not supported yet', hint: 'Drop them in separate statements.' });
    await this.#runDdl(planDropIndex(stmt, text, targets), text);
    return true;
  }

  /**
   * COPY (SELECT …) TO STDOUT: the SELECT runs as usual, in text format, and what it would send the client is
   * rewritten on the way out: its row description opens the COPY, each row becomes a line, its tag becomes COPY n.
   */
  async #runCopyQuery(raw: RawStmt, text: string, inner: DistributedPlan | AggregatePlan, out: CopyOutFormat): Promise<void> {
    await this.#sendingTo(
      (f, send) => {
        if (f[0] === 0x54) {
          const fields = be.readRowDescription(f);
          send(be.copyOutResponse(0, fields.length));
          if (out.header) send(fe.copyData(Buffer.from(copyOutLine(fields.map((c) => c.name), out))));
        } else if (f[0] === 0x44) {
          const values = be.readDataRow(f).map((b) => (b === null ? null : b.toString('utf8')));
          send(fe.copyData(Buffer.from(copyOutLine(values, out))));
        } else if (f[0] === 0x43) {
          send(fe.copyDone());
          send(be.commandComplete(`COPY ${/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0}`));
        } else send(f);
      },
      () => this.#runStatement(raw, text, inner, [], true, true),
    );
  }

  /**
   * Runs `fn` with what it sends to the client going through `route` instead (which may pass a frame on with
   * `send`): how a distributed portal keeps its rows and COPY (query) rewrites a SELECT's answer.
   */
  async #sendingTo<T>(route: (frame: Buffer, send: (frame: Buffer) => void) => void, fn: () => Promise<T>): Promise<T> {
    const original = this.ctx.send;
    const send = (f: Buffer) => original.call(this.ctx, f);
    this.ctx.send = (f: Buffer) => route(f, send);
    try {
      return await fn();
    } finally {
      this.ctx.send = original;
    }
  }

  /** COMMIT or ROLLBACK of a client transaction that reached other nodes. */
  async #endDistributedTx(raw: RawStmt): Promise<boolean> {
    const kind = raw.stmt.TransactionStmt.kind as string;
    const home = await this.#acquire(this.#home);
    const others = await Promise.all([...this.#txNodes].map((n) => this.#acquire(n)));
    this.#txNodes.clear();
    if (kind === 'TRANS_STMT_COMMIT' && this.#status === 'T') {
      try {
        await commitDistributed(home, others, true);
        this.#status = 'I';
      } finally {
        this.#txEnded();
      }
      this.ctx.send(be.commandComplete('COMMIT'));
      return true;
    }
    if (kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') {
      await rollbackAll([home, ...others]);
      this.#status = 'I';
      this.#txEnded();
      this.ctx.send(be.commandComplete('ROLLBACK'));
      return true;
    }
    this.#txNodes = new Set(others.map((c) => c.nodeId));
    throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: savepoints and PREPARE TRANSACTION are not supported in a transaction that reached distributed tables' });
  }

  /** A SET LOCAL that ran on the home node: the other nodes in the transaction run it too, and those it reaches later. */
  async #spreadLocalSet(raw: RawStmt, sql: string, home: NodeConnection): Promise<void> {
    const n = raw.stmt.VariableSetStmt;
    const args: Node[] = n.args ?? [];
    const value = n.kind === 'VAR_SET_VALUE' ? args.map((a) => constText(a) ?? '').join(', ') : null;
    if (typeof n.name === 'string') this.#localValues.set(n.name.toLowerCase(), value);
    this.#localSets.push(sql);
    home.localSettings = this.#localKey;
    for (const n of this.#txNodes) {
      const c = await this.#acquire(n);
      await runQuery(c, sql);
      c.localSettings = this.#localKey;
    }
  }

  /** A node's answer to a statement relayed as it is; ReadyForQuery is left to the caller. */
  #passOn = (f: Buffer): void => {
    if (f[0] !== 0x5a) this.ctx.send(f);
    if (deallocatesAll(f)) this.#statements.clear(); // as on Postgres, the client's statements are gone too
  };

  async #relayUntilReady(conn: NodeConnection): Promise<void> {
    const status = await conn.readUntilReady(this.#passOn);
    this.#status = status;
    this.ctx.send(be.readyForQuery(status));
  }

  async #ready(status: TxStatus): Promise<void> {
    this.#status = status;
    this.ctx.send(be.readyForQuery(status));
    await this.ctx.flush();
  }

  /** After ReadyForQuery: outside a transaction connections go back to the pool, with settings re-read if changed. */
  async #afterReady(): Promise<void> {
    await this.ctx.flush();
    if (this.#status !== 'I') return;
    this.#portals.clear();
    this.#localSets = [];
    this.#localValues.clear();
    const conn = this.#conn;
    if (conn && this.#refreshSettings && !this.#pinned) {
      this.#refreshSettings = false;
      this.#settings = await readSettings(conn, this.#customSettings);
      this.#settingsKey = settingsKey(this.#settings);
      conn.settingsKey = this.#settingsKey;
      // Connections to other nodes took the old settings; they are released and get the new ones next time.
    }
    await this.#release();
  }

  // ---- COPY FROM STDIN ----

  async #startCopyIn(frame: Buffer, pins: boolean): Promise<void> {
    const conn = await this.#acquire();
    if (pins) this.#pinned = true;
    const frames = await conn.startCopyIn(frame);
    for (const f of frames) if (f[0] !== 0x5a) this.ctx.send(f);
    const last = frames[frames.length - 1];
    if (last[0] === 0x5a) {
      this.ctx.send(be.readyForQuery(be.readyStatus(last)));
      this.#status = be.readyStatus(last);
      return this.#afterReady();
    }
    this.#copyIn = true;
    await this.ctx.flush();
  }

  /** COPY into a distributed table: vecshard answers the client itself and routes the rows. */
  async #startDistCopyIn(plan: CopyPlan): Promise<void> {
    this.#distCopy = new DistCopyIn(plan, (expr, n) => this.#evalDefault(expr, n));
    // Outside a transaction block the rows stream to the shards as they arrive; inside one they must go through
    // the session's own node connections, so they are sent at the end.
    this.#copyStreams = this.#status === 'I' && CopyStreams.possible(this.ctx.cluster, this.#distCopy) ? new CopyStreams(this.ctx.cluster, this.ctx.database, this.#distCopy) : undefined;
    this.#copyIn = true;
    this.ctx.send(be.copyInResponse(0, plan.columns.length));
    await this.ctx.flush();
  }

  async #copyMessage(type: string, frame: Buffer): Promise<void> {
    if (this.#distCopy) return this.#distCopyMessage(type, frame);
    const conn = this.#conn!;
    if (type === 'd') {
      this.#out.push(frame);
      if (this.#out.length >= 256) conn.write(Buffer.concat(this.#out.splice(0)));
      return;
    }
    if (type === 'H' || type === 'S') return; // ignored during COPY, as Postgres does
    this.#copyIn = false;
    this.#out.push(type === 'c' || type === 'f' ? frame : fe.copyFail(`unexpected message type "${type}" during COPY`));
    conn.write(Buffer.concat(this.#out.splice(0)));
    await this.#relayUntilReady(conn);
    await this.#afterReady();
  }

  #copyStreams: CopyStreams | undefined;

  async #distCopyMessage(type: string, frame: Buffer): Promise<void> {
    const streams = this.#copyStreams;
    try {
      await this.#distCopyMessageNow(type, frame);
    } catch (e) {
      this.#copyStreams = undefined;
      await streams?.finish(() => this.#acquire(this.#home), false).catch(() => {});
      throw e;
    }
  }

  async #distCopyMessageNow(type: string, frame: Buffer): Promise<void> {
    const copy = this.#distCopy!;
    const streams = this.#copyStreams;
    if (type === 'd') {
      await copy.push(frame.subarray(5));
      return streams?.send();
    }
    if (type === 'H' || type === 'S') return;
    this.#copyIn = false;
    this.#distCopy = undefined;
    if (type !== 'c') {
      const why = type === 'f' ? fe.readQuery(frame) : `unexpected message type "${type}" during COPY`;
      throw new PgError({ severity: 'ERROR', code: '57014', message: `COPY from stdin failed: ${why}` });
    }
    await copy.end();
    await this.#growRadii(copy.radii.sql());
    if (streams) {
      await streams.send(true);
      this.#copyStreams = undefined;
      await streams.finish(() => this.#acquire(this.#home), true);
      this.ctx.send(be.commandComplete(`COPY ${copy.rows}`));
      await this.#ready(this.#status);
      return this.#afterReady();
    }
    const nodes = [...new Set([...copy.perShard.keys()].flatMap((i) => copy.plan.table.shards[i].nodes))];
    const ownTx = this.#status === 'I' && nodes.length > 1;
    const conns = await Promise.all(nodes.map((n) => this.#acquire(n)));
    if (ownTx) await Promise.all(conns.map((c) => runQuery(c, 'BEGIN')));
    try {
      // One COPY at a time per node connection; nodes in parallel.
      await Promise.all(
        nodes.map(async (n) => {
          const c = await this.#acquire(n);
          for (const [index, lines] of copy.perShard) {
            if (copy.plan.table.shards[index].nodes.includes(n)) await copyLines(c, copy.copySql(index), lines);
          }
        }),
      );
      if (ownTx) {
        const home = await this.#acquire(this.#home);
        await commitDistributed(home, conns.filter((c) => c !== home), nodes.includes(this.#home));
      }
    } catch (e) {
      if (ownTx) await rollbackAll(conns);
      throw e;
    }
    this.ctx.send(be.commandComplete(`COPY ${copy.rows}`));
    await this.#ready(this.#status);
    await this.#afterReady();
  }

  // ---- extended protocol ----

  async #parse(frame: Buffer): Promise<void> {
    const m = fe.readParse(frame);
    const sent = m.sql;
    m.sql = quoteProbesAll(m.sql);
    if (this.#batchFailed) return;
    if (m.name !== '' && this.#statements.has(m.name)) {
      return this.#batchError({ severity: 'ERROR', code: '42P05', message: `prepared statement "${m.name}" already exists` }, 'parse');
    }
    const t0 = performance.now();
    const q = classify(m.sql);
    this.#parseMs = performance.now() - t0;
    for (const n of q.customSettings) this.#customSettings.add(n);
    if (q.statements.some((s) => s.kind === 'copy-in')) {
      return this.#batchError({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN is supported in the simple query protocol only' }, 'parse');
    }
    if (q.statements.some((s) => s.kind === 'createdb' || s.kind === 'dropdb')) {
      return this.#batchError({ severity: 'ERROR', code: '0A000', message: 'vecshard: CREATE/DROP DATABASE is supported in the simple query protocol only' }, 'parse');
    }
    const st: PreparedStatement = {
      sql: m.sql,
      paramTypes: m.paramTypes,
      nodeName: m.name === '' ? '' : statementName(m.sql, m.paramTypes),
      owner: {},
      pins: q.pins,
      changesSettings: q.changesSettings,
    };
    const catalog = await this.#catalog();
    if (/create_distributed_table|create_reference_table|vecshard\./i.test(m.sql) && !q.unparsed) {
      // vecshard's own functions exist on no node: the coordinator answers Parse, Bind and Describe itself.
      const [raw] = parseSql(m.sql) as RawStmt[];
      const fn = raw && vecshardFunction(raw.stmt);
      if (fn) {
        const name = raw.stmt.SelectStmt.targetList[0].ResTarget.name ?? fn.name;
        st.distributed = raw;
        st.coordinatorOnly = be.rowDescription([{ name, typeOid: fn.name.startsWith('create_') ? 2278 : 23, typeSize: 4 }]);
        this.#statements.set(m.name, st);
        this.#entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
        return;
      }
    }
    if (!q.unparsed && (q.allNodes || !catalog.empty)) {
      // Whether it touches a distributed table is known now; the plan waits for the parameters (at Execute).
      const [raw] = parseSql(m.sql) as RawStmt[];
      const guarded = raw && changesProtected(raw.stmt);
      if (guarded) return this.#batchError(protectedError(guarded).error, 'parse');
      // SET LOCAL runs as a statement of its own too, so the nodes the transaction reaches get it (#spreadLocalSet).
      if (raw && (q.allNodes || distributedTables(raw.stmt, catalog).length || isLocalSet(raw))) st.distributed = raw;
    }
    if (!st.distributed && !q.unparsed && /^\s*(commit|rollback|end|abort|prepare|savepoint|release)\b/i.test(m.sql)) {
      // COMMIT or ROLLBACK may have to end the transaction on other nodes too (postgres.js sends them this way):
      // it runs like a distributed statement, which knows which nodes the transaction reached.
      const [raw] = parseSql(m.sql) as RawStmt[];
      if (raw && stmtKind(raw) === 'TransactionStmt') st.distributed = raw;
    }
    if (this.#home !== 0 && !st.distributed) {
      const [raw] = q.unparsed ? [] : ((parseSql(m.sql) as RawStmt[]) ?? []);
      if (raw && !readsOnly(raw)) return this.#batchError(standInRefusal().fields, 'parse');
    }
    this.#statements.set(m.name, st);
    const conn = await this.#acquire();
    if (st.nodeName !== '' && conn.prepared.has(st.nodeName)) {
      this.#entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
      return;
    }
    // The client's own message goes as it is when nothing in it changes (the unnamed statement).
    this.#queueParse(conn, st, true, m.name, m.name === st.nodeName && sent === st.sql ? frame : undefined);
  }

  #queueParse(conn: NodeConnection, st: PreparedStatement, forward: boolean, clientName?: string, frame?: Buffer): void {
    this.#out.push(frame ?? fe.parse({ name: st.nodeName, sql: st.sql, paramTypes: st.paramTypes }));
    this.#entries.push({ kind: 'parse', forward, nodeName: st.nodeName, parsed: clientName === undefined ? undefined : { name: clientName, st } });
    if (st.nodeName === '') conn.unnamedOwner = st.owner;
    else conn.prepared.add(st.nodeName);
  }

  /** Makes sure the client's statement exists on the connection; returns it, or undefined after queuing an error. */
  async #ensureStatement(name: string, kind: EntryKind): Promise<PreparedStatement | undefined> {
    const st = this.#statements.get(name);
    if (!st) {
      const message = name === '' ? 'unnamed prepared statement does not exist' : `prepared statement "${name}" does not exist`;
      await this.#batchError({ severity: 'ERROR', code: '26000', message }, kind);
      return undefined;
    }
    if (st.coordinatorOnly) return st;
    const conn = await this.#acquire();
    const missing = st.nodeName === '' ? conn.unnamedOwner !== st.owner : !conn.prepared.has(st.nodeName);
    if (missing) this.#queueParse(conn, st, false);
    return st;
  }

  async #bind(frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    const h = fe.readBindHead(frame);
    const st = await this.#ensureStatement(h.statement, 'bind');
    if (!st) return;
    if (st.pins) this.#pinned = true;
    if (st.changesSettings) this.#refreshSettings = true;
    if (st.coordinatorOnly) {
      this.#portals.set(h.portal, { stmt: st.distributed!, sql: st.sql, ...readBind(h.rest, st.paramTypes), coordinatorOnly: st.coordinatorOnly });
      this.#entries.push({ kind: 'bind', forward: true, synthetic: be.bindComplete() });
      return;
    }
    this.#out.push(fe.bind({ ...h, statement: st.nodeName }));
    this.#entries.push({ kind: 'bind', forward: true });
    if (st.distributed) this.#portals.set(h.portal, { stmt: st.distributed, sql: st.sql, ...readBind(h.rest, st.paramTypes) });
    else this.#portals.delete(h.portal);
  }

  async #describe(frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    const t = fe.readTarget(frame);
    if (t.kind === 'P') {
      const only = this.#portals.get(t.name)?.coordinatorOnly;
      if (only) return void this.#entries.push({ kind: 'describe-P', forward: true, synthetic: only });
      return this.#forward('describe-P', frame);
    }
    const st = await this.#ensureStatement(t.name, 'describe-S');
    if (!st) return;
    if (st.coordinatorOnly) {
      // Parameters are described as text: every argument of vecshard's functions is read as text.
      const n = st.paramTypes.length || countParams(st.distributed!.stmt);
      this.#entries.push({ kind: 'describe-S', forward: true, synthetic: be.parameterDescription(Array.from({ length: n }, (_, i) => st.paramTypes[i] || 25)) });
      this.#entries.push({ kind: 'describe-S', forward: true, synthetic: st.coordinatorOnly });
      return;
    }
    this.#out.push(fe.describe({ kind: 'S', name: st.nodeName }));
    this.#entries.push({ kind: 'describe-S', forward: true });
  }

  async #execute(frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    const { portal, maxRows } = fe.readExecute(frame);
    const dp = this.#portals.get(portal);
    if (!dp) {
      this.ctx.cluster.metrics.relayed('local');
      return this.#forward('execute', frame);
    }
    // Answers to what came before go out first; then vecshard runs the portal on the shards itself.
    await this.#flushBatch(false);
    if (this.#batchFailed) return;
    if (!dp.pending) {
      const plan = await this.#plan(dp.stmt, dp.sql, dp.params, await this.#catalog());
      // The portal's rows are kept, so an Execute with a row limit can hand them out in parts.
      const out: Buffer[] = [];
      const t0 = performance.now();
      try {
        await this.#sendingTo(
          (b, send) => (b[0] === 0x44 || b[0] === 0x43 ? void out.push(b) : send(b)),
          () => this.#runStatement(dp.stmt, dp.sql, plan, dp.resultFormats, false, true),
        );
        this.#observe(dp.sql, plan, performance.now() - t0);
      } catch (e) {
        const fields = e instanceof PgError || e instanceof ShardError ? e.fields : undefined;
        if (!fields) throw e;
        await this.#batchError(fields, 'execute');
        await this.#flushBatch(false);
        return;
      }
      dp.pending = { rows: out.filter((b) => b[0] === 0x44), complete: out.find((b) => b[0] === 0x43)! };
    }
    const { rows, complete } = dp.pending;
    const part = maxRows > 0 ? rows.splice(0, maxRows) : rows.splice(0);
    for (const r of part) this.ctx.send(r);
    // PortalSuspended while rows remain; CommandComplete once they are all out.
    if (maxRows > 0 && rows.length) this.ctx.send(be.portalSuspended());
    else this.ctx.send(complete);
  }

  async #close(frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    const t = fe.readTarget(frame);
    if (t.kind === 'S') {
      // The node keeps its copy: other sessions may share it.
      this.#statements.delete(t.name);
      this.#entries.push({ kind: 'close', forward: true, synthetic: be.closeComplete() });
      return;
    }
    this.#portals.delete(t.name);
    return this.#forward('close', frame);
  }

  async #forward(kind: EntryKind, frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    await this.#acquire();
    this.#out.push(frame);
    this.#entries.push({ kind, forward: true });
  }

  /**
   * An error vecshard raises inside a batch. With a node transaction open, an invalid Parse is sent so the node
   * aborts it too, and the node's error is replaced by ours; otherwise the rest of the batch is skipped until Sync.
   */
  async #batchError(err: be.PgErrorFields, kind: EntryKind): Promise<void> {
    if (this.#conn) {
      this.#out.push(fe.parse({ name: '', sql: 'vecshard error', paramTypes: [] }));
      this.#entries.push({ kind, forward: false, replaceError: be.errorResponse(err) });
      this.#conn.unnamedOwner = undefined;
      return;
    }
    this.#entries.push({ kind, forward: true, synthetic: be.errorResponse(err) });
    this.#batchFailed = true;
  }

  async #sync(): Promise<void> {
    this.#batchFailed = false;
    if (!this.#conn) {
      await this.#pump(undefined);
      return this.#ready(this.#status);
    }
    if (!this.#out.length && !this.#entries.length && this.#conn.atRest && this.#conn.quiet) {
      // Nothing went to the node since its last ReadyForQuery (a distributed portal's shard task on this
      // connection ended in a Sync of its own): the node would answer this Sync with the same status.
      await this.#ready(this.#conn.status);
      return this.#afterReady();
    }
    this.#out.push(fe.sync());
    this.#entries.push({ kind: 'sync', forward: true });
    await this.#pump(this.#conn);
    this.#batchFailed = false;
    await this.#afterReady();
  }

  /**
   * The fast lane for a client batch that only binds, describes and runs statements on ordinary tables, ending in
   * Sync, optionally after one Parse (pgbench -M prepared and -M extended, node-postgres's parameterized queries):
   * the messages go to the home node in one write, statement names swapped for the node's, and the node's answers
   * come back as they are, without #pump's per-message bookkeeping. Undefined when the batch needs the general path
   * (then nothing has changed); the promise gives false when a statement must first be parsed on the connection.
   */
  relay(frames: Buffer[]): Promise<boolean> | undefined {
    const n = frames.length;
    if (n < 2 || frames[n - 1][0] !== 0x53 || this.#copyIn || this.#out.length || this.#entries.length || this.#batchFailed) return undefined;
    if (this.#txNodes.size || this.#portals.size || this.#home !== 0) return undefined;
    const parse = frames[0][0] === 0x50 ? frames[0] : undefined;
    const names: string[] = [];
    let executes = 0;
    for (let i = parse ? 1 : 0; i < n - 1; i++) {
      const f = frames[i];
      if (f[0] === 0x42) {
        const portalEnd = f.indexOf(0, 5);
        const end = f.indexOf(0, portalEnd + 1);
        if (portalEnd < 0 || end < 0) return undefined;
        names.push(f.toString('utf8', portalEnd + 1, end));
      } else if (f[0] === 0x44) {
        if (f[5] === 0x53) names.push(f.toString('utf8', 6, f.length - 1)); // Describe statement
        else if (f[5] !== 0x50) return undefined; // not portal either: the general path reports it
      } else if (f[0] === 0x45) executes++;
      else return undefined;
    }
    return this.#relayNow(frames, parse, names, executes);
  }

  async #relayNow(frames: Buffer[], parse: Buffer | undefined, names: string[], executes: number): Promise<boolean> {
    try {
      const conn = await this.#acquire();
      let parsed: string | undefined;
      if (parse) {
        // Parse is decided as ever (#parse); the batch stays in the fast lane only if it queued nothing unusual.
        await this.#parse(parse);
        const e = this.#entries;
        const plain = e.length === 1 && !e[0].replaceError && (e[0].synthetic ? e[0].synthetic[0] === 0x31 : e[0].forward);
        parsed = plain ? parse.toString('utf8', 5, parse.indexOf(0, 5)) : undefined;
        const st = parsed === undefined ? undefined : this.#statements.get(parsed);
        if (!st || st.distributed || st.coordinatorOnly) return this.#handleEach(frames, 1);
      }
      const used: PreparedStatement[] = [];
      for (const name of names) {
        const st = this.#statements.get(name);
        const ready = st && !st.distributed && !st.coordinatorOnly && (name === parsed || (st.nodeName === '' ? conn.unnamedOwner === st.owner : conn.prepared.has(st.nodeName)));
        if (!ready) return parse ? this.#handleEach(frames, 1) : false;
        used.push(st);
      }
      const out = this.#out.splice(0);
      const head = this.#entries.splice(0)[0];
      if (head?.synthetic) this.ctx.send(head.synthetic); // ParseComplete for a statement the connection had
      let u = 0;
      for (let i = parse ? 1 : 0; i < frames.length; i++) {
        const f = frames[i];
        if (f[0] === 0x42 || (f[0] === 0x44 && f[5] === 0x53)) {
          const st = used[u++];
          if (st.pins) this.#pinned = true;
          if (st.changesSettings) this.#refreshSettings = true;
          if (f[0] === 0x42) {
            const h = fe.readBindHead(f);
            out.push(h.statement === st.nodeName ? f : fe.bind({ ...h, statement: st.nodeName }));
          } else out.push(fe.describe({ kind: 'S', name: st.nodeName }));
        } else out.push(f);
      }
      conn.write(out.length === 1 ? out[0] : Buffer.concat(out));
      for (let i = 0; i < executes; i++) this.ctx.cluster.metrics.relayed('local');
      let parseAnswered = head?.nodeName === undefined;
      this.#status = await conn.readUntilReady((f) => {
        if (!parseAnswered && (f[0] === 0x31 || f[0] === 0x45)) {
          parseAnswered = true;
          if (f[0] === 0x45) this.#parseRefused(conn, head!);
        }
        this.ctx.send(f);
      });
      await this.#afterReady();
    } catch (e) {
      // The batch's Sync is consumed here, so the client gets ReadyForQuery after the error.
      await this.#fail(e);
    }
    return true;
  }

  /** The general path for the rest of a batch the fast lane began. */
  async #handleEach(frames: Buffer[], from: number): Promise<boolean> {
    for (let i = from; i < frames.length && !this.closed; i++) await this.handle(frames[i]);
    return true;
  }

  async #flushBatch(toClient = true): Promise<void> {
    if (this.#conn && (this.#out.length || this.#entries.length)) this.#out.push(fe.flush());
    await this.#pump(this.#conn);
    if (toClient) await this.ctx.flush();
  }

  /**
   * The node refused the Parse `e` queued: the statement exists neither on the connection (the next use parses
   * again) nor, when it was the client's own Parse, for the client, as on Postgres.
   */
  #parseRefused(conn: NodeConnection, e: Entry): void {
    if (e.nodeName === '') conn.unnamedOwner = undefined;
    else if (e.nodeName) conn.prepared.delete(e.nodeName);
    if (e.parsed && this.#statements.get(e.parsed.name) === e.parsed.st) this.#statements.delete(e.parsed.name);
  }

  /** Sends the batch and relays the node's answers, entry by entry, until every entry has its answer. */
  async #pump(conn: NodeConnection | undefined): Promise<void> {
    if (conn && this.#out.length) conn.write(Buffer.concat(this.#out.splice(0)));
    let failed = false;
    while (this.#entries.length) {
      const e = this.#entries[0];
      if (e.synthetic) {
        if (!failed) this.ctx.send(e.synthetic);
        if (e.synthetic[0] === 0x45) failed = this.#batchFailed = true;
        this.#entries.shift();
        continue;
      }
      if (failed && e.kind !== 'sync') {
        this.#entries.shift(); // the node skips messages after an error until Sync
        continue;
      }
      if (!conn) throw new Error('vecshard: batch entry without a node connection');
      const f = await conn.read();
      const t = f[0];
      if (t === 0x4e || t === 0x53 || t === 0x41) {
        // NoticeResponse, ParameterStatus, NotificationResponse may come at any time.
        if (e.forward) this.ctx.send(f);
        continue;
      }
      if (t === 0x45) {
        failed = true;
        if (e.kind !== 'sync') this.#batchFailed = true;
        if (e.nodeName !== undefined) this.#parseRefused(conn, e);
        if (e.replaceError) this.ctx.send(e.replaceError);
        else this.ctx.send(f); // vecshard's own Parse failing must still reach the client
        this.#entries.shift();
        continue;
      }
      if (t === 0x5a) {
        this.#status = be.readyStatus(f);
        failed = false;
      }
      if (e.forward) this.ctx.send(f);
      if (completes(e.kind, t)) this.#entries.shift();
    }
  }

  // ---- connections ----

  /** This session's connection to a node, taken from the pool with the session's settings applied. */
  async #acquire(nodeId: number = this.#home): Promise<NodeConnection> {
    const held = this.#conns.get(nodeId);
    if (held) return held;
    const pool = this.ctx.cluster.pool(nodeId, this.ctx.database);
    let conn = pool.takeIdle();
    if (conn && conn.settingsKey === this.#settingsKey && (nodeId === this.#home || this.#status === 'I')) {
      this.#conns.set(nodeId, conn);
      return conn;
    }
    try {
      conn ??= await pool.acquire();
    } catch (e) {
      // A home node found down between transactions: another node stands in for it.
      const rehome = nodeId === this.#homeId && this.#status === 'I' && !this.#pinned && isConnectionFailure(e);
      if (!rehome) throw e;
      const { cluster, database } = this.ctx;
      const others = (cluster.catalogNodes(database) ?? cluster.members()).filter((n) => n !== nodeId && cluster.isUp(n));
      if (!others.length) throw e;
      cluster.markDown(nodeId);
      const next = cluster.homeNode(database);
      this.#homeId = next;
      return this.#acquire(next);
    }
    try {
      await applySettings(conn, this.#settings, this.#settingsKey);
      if (nodeId !== this.#home && this.#status !== 'I') {
        // The client's transaction reaches this node now.
        await runQuery(conn, 'BEGIN');
        this.#txNodes.add(nodeId);
        for (const sql of this.#localSets) await runQuery(conn, sql);
        conn.localSettings = this.#localKey;
      }
    } catch (e) {
      await pool.release(conn, false);
      throw e;
    }
    this.#conns.set(nodeId, conn);
    return conn;
  }

  /** Returns idle connections to their pools (node 0's stays when session state pins it). */
  async #release(): Promise<void> {
    for (const [nodeId, conn] of [...this.#conns]) {
      if (nodeId === this.#home && this.#pinned) continue;
      this.#conns.delete(nodeId);
      conn.localSettings = '';
      const pool = this.ctx.cluster.pool(conn.nodeId, conn.database);
      if (!pool.releaseClean(conn)) await pool.release(conn, conn.status === 'I');
    }
  }

  /** Puts an open transaction into the failed state, as an error inside it would on Postgres. */
  async #abortNodeTransaction(): Promise<void> {
    const conn = this.#conn;
    if (!conn || this.#status === 'I') return;
    conn.write(fe.query('vecshard error'));
    this.#status = await conn.readUntilReady(() => {});
  }

  /**
   * Reports an error that escaped a message's handler. In the extended protocol the rest of the batch is skipped
   * and ReadyForQuery waits for the client's Sync, as on Postgres: answering it now would put the client one
   * answer out of step.
   */
  async #fail(e: unknown, extended = false): Promise<void> {
    this.#out = [];
    this.#entries = [];
    this.#batchFailed = false;
    this.#copyIn = false;
    this.#distCopy = undefined;
    // A node connection with answers still unread cannot be used again: its next reader would get them.
    for (const c of this.#conns.values()) if (!c.quiet) c.close();
    const lostNode = [...this.#conns.values()].some((c) => c.broken);
    const fields: be.PgErrorFields =
      e instanceof PgError || e instanceof ShardError ? e.fields : { severity: 'ERROR', code: 'XX000', message: `vecshard: ${(e as Error)?.message ?? String(e)}` };
    if (!(e instanceof PgError || e instanceof ShardError)) this.ctx.log.error({ err: e }, 'internal error');
    if (fields.severity === 'FATAL' || (lostNode && this.#status !== 'I')) {
      // A transaction on a lost node cannot go on; Postgres ends the session in that case too.
      this.ctx.send(be.errorResponse({ ...fields, severity: 'FATAL' }));
      await this.ctx.flush().catch(() => {});
      await this.close();
      return;
    }
    if (lostNode) {
      for (const [id, c] of [...this.#conns]) {
        if (!c.broken) continue;
        this.#conns.delete(id);
        await this.ctx.cluster.pool(c.nodeId, c.database).release(c, false);
      }
    }
    await this.#abortNodeTransaction().catch(() => {});
    this.ctx.send(be.errorResponse(fields));
    if (extended) {
      this.#batchFailed = true;
      await this.ctx.flush().catch(() => {});
      return;
    }
    await this.#ready(this.#conn ? this.#conn.status : this.#status === 'I' ? 'I' : 'E').catch(() => {});
    await this.#afterReady().catch(() => {});
  }

  async cancel(): Promise<void> {
    await Promise.all([...this.#conns.values()].map((c) => c.cancel()));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [id, conn] of [...this.#conns]) {
      this.#conns.delete(id);
      await this.ctx.cluster.pool(conn.nodeId, conn.database).release(conn, false);
    }
  }
}

const typeNameCache = new WeakMap<NodeConnection, Map<number, string>>();

/** Type names for OIDs, as node 0 of this database spells them (extension types have per-database OIDs). */
async function typeNames(conn: NodeConnection, oids: number[]): Promise<Map<number, string>> {
  let cache = typeNameCache.get(conn);
  if (!cache) typeNameCache.set(conn, (cache = new Map()));
  const missing = oids.filter((o) => !cache.has(o));
  if (missing.length) {
    const r = await runQuery(conn, `SELECT oid, format_type(oid, NULL) FROM pg_type WHERE oid IN (${missing.join(', ')})`);
    for (const [oid, name] of r.rows) cache.set(Number(oid), name!);
  }
  return cache;
}

/** Whether backend message `t` is the last answer to a message of this kind. */
function completes(kind: EntryKind, t: number): boolean {
  switch (kind) {
    case 'parse':
      return t === 0x31;
    case 'bind':
      return t === 0x32;
    case 'close':
      return t === 0x33;
    case 'describe-S':
    case 'describe-P':
      return t === 0x54 || t === 0x6e; // RowDescription or NoData
    case 'execute':
      return t === 0x43 || t === 0x49 || t === 0x73; // CommandComplete, EmptyQueryResponse, PortalSuspended
    case 'sync':
      return t === 0x5a;
  }
}

function statementName(sql: string, types: number[]): string {
  return 'vs_' + createHash('sha1').update(sql).update('\0').update(types.join(',')).digest('hex').slice(0, 24);
}

/** Statements a node standing in for node 0 may run: it has the shells and catalogs, not node 0's ordinary tables. */
const STAND_IN_KINDS = new Set([
  'VariableSetStmt', 'VariableShowStmt', 'TransactionStmt', 'ExplainStmt', 'DiscardStmt', 'DeallocateStmt', 'PrepareStmt',
  'ExecuteStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt',
]);

/** Session settings as the open transaction's SET LOCAL statements leave them. */
function withLocal(settings: Settings, local: Map<string, string | null>): Settings {
  const out = new Map(settings);
  for (const [k, v] of local) {
    if (v === null) out.delete(k);
    else out.set(k, v);
  }
  return out;
}

function isLocalSet(raw: RawStmt): boolean {
  return stmtKind(raw) === 'VariableSetStmt' && !!raw.stmt.VariableSetStmt.is_local;
}

function readsOnly(raw: RawStmt): boolean {
  const kind = stmtKind(raw);
  if (kind === 'SelectStmt') return !raw.stmt.SelectStmt.intoClause && !raw.stmt.SelectStmt.lockingClause;
  return STAND_IN_KINDS.has(kind);
}

/** The node vecshard.add_node(url) names: a PostgreSQL server, or (no argument) one more embedded node. */
function nodeToAdd(cluster: Cluster, url: string | null | undefined): NodeSpec {
  const first = cluster.nodes[0];
  if (first.kind === 'pglite') {
    if (url) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard.add_node: embedded nodes cannot be mixed with PostgreSQL servers; call vecshard.add_node() without an argument' });
    return { kind: 'pglite', dataDir: path.join(path.dirname(first.dataDir), `node-${cluster.nodes.length}`) };
  }
  if (!url) throw new PgError({ severity: 'ERROR', code: '22023', message: "vecshard.add_node('postgres://user:password@host:5432') takes the new node's connection string" });
  try {
    return { kind: 'postgres', ...parseNodeUrl(url), url, poolSize: first.poolSize };
  } catch (e) {
    throw new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.add_node: ${(e as Error).message}` });
  }
}

/** The hidden distance column comes back in the format of the others, or binary when they are given one by one. */
function hiddenFormats(plan: DistributedPlan, resultFormats: number[]): { formats: number[]; hiddenBinary: boolean } {
  if (plan.hidden && resultFormats.length > 1) return { formats: [...resultFormats, 1], hiddenBinary: true };
  return { formats: resultFormats, hiddenBinary: resultFormats.length === 1 && resultFormats[0] === 1 };
}

/** The highest $n in a statement (its parameter count when the client gave no types). */
function countParams(stmt: Node): number {
  let max = 0;
  walk(stmt, (n) => {
    if (n.ParamRef) max = Math.max(max, n.ParamRef.number);
  });
  return max;
}
