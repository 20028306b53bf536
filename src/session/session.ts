// One client's state, whatever protocol it speaks: the node connections it holds, its home node, its transaction
// (which nodes it reached, its SET LOCALs, its private catalog), its settings, and its prepared statements and
// portals. The executor runs plans through it (it is the executor's RunContext); the wire layer reads and
// changes it as messages arrive.
import { randomInt } from 'node:crypto';
import type { Logger } from 'pino';
import type { RunContext } from '../executor/context.ts';
import { applySettings, readSettings, settingsKey, startupSettings, withLocal, type Settings } from '../executor/settings.ts';
import { DEFAULT_RESULT_LIMIT, parseMemory } from '../limits.ts';
import { endTransaction } from '../executor/transaction.ts';
import { isConnectionFailure } from '../errors.ts';
import { loadCatalog, type Catalog } from '../metadata/catalog.ts';
import { openCatalog } from '../metadata/catalog-copies.ts';
import { planStatement, type StatementContext, type StatementPlan } from '../planner/statement.ts';
import type { Cluster } from '../shards/cluster.ts';
import { nodeStates } from '../shards/health.ts';
import type { Login } from '../shards/login.ts';
import type { NodePool } from '../shards/pool.ts';
import { DONE } from '../shards/drain.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection, TxStatus } from '../shards/node-connection.ts';
import { constText, type Node } from '../sql/ast.ts';
import type { RawStmt } from '../sql/parse.ts';
import type { BoundParams } from '../planner/params.ts';
import { Portals, type PreparedStatement } from './statements.ts';
import { evalDefault } from './defaults.ts';
import type { SqlPrepared } from '../planner/sql-prepare.ts';
import * as fe from '../protocol/frontend.ts';

export interface SessionOptions {
  cluster: Cluster;
  database: string;
  user: string;
  /** Who the client's statements run as on the nodes (the role, and its SCRAM key with pass-through). */
  login?: Login;
  /** The process id clients cancel by; the server keeps them unique among its sessions. */
  pid?: number;
  startupParams: Record<string, string>;
  log: Logger;
}

export class Session implements RunContext {
  readonly pid: number;
  readonly secret = randomInt(0, 2 ** 31 - 1);
  readonly cluster: Cluster;
  readonly database: string;
  readonly log: Logger;
  /** The role the client logged in as. */
  readonly user: string;
  readonly login: Login;
  readonly timing = { parseMs: 0, planMs: 0, shardMs: 0 };
  /** The client's prepared statements, by the client's names. */
  readonly statements = new Map<string, PreparedStatement>();
  /** Portals bound to distributed statements: run by the coordinator, not by the home node. */
  readonly portals = new Portals();
  /** Statements over distributed tables prepared with SQL PREPARE (EXECUTE runs them here, not on the home node). */
  readonly sqlPrepared = new Map<string, SqlPrepared>();
  /** Transaction status as the client sees it. */
  status: TxStatus = 'I';
  /** Session state (temporary tables, LISTEN, ...) keeps the home connection out of the pool. */
  pinned = false;
  /** The client changed a setting: read them back from the node when its transaction ends. */
  refreshSettings = false;
  /** Dotted settings this session has set (placeholders are not in pg_settings). */
  readonly customSettings = new Set<string>();

  #settings: Settings;
  #settingsKey: string;
  /** Node connections this session holds: the home node's for passthrough, others for distributed work. */
  #conns = new Map<number, NodeConnection>();
  /** Nodes other than the home node where the client's open transaction has begun. */
  #txNodes = new Set<number>();
  #turn = 0;
  #homeId = -1;
  /** The open transaction's SET LOCAL statements: every node the transaction reaches runs them. */
  #localSets: string[] = [];
  /** What they set, for planning (vecshard.exact, vecshard.probes, ...); null for SET LOCAL ... TO DEFAULT. */
  #localValues = new Map<string, string | null>();
  /**
   * This session's view of the catalog while its open transaction has changed it (uncommitted, so only the home
   * connection sees it); everyone else keeps the committed catalog until the transaction ends.
   */
  #txCatalog: Catalog | undefined;

  constructor(o: SessionOptions) {
    this.cluster = o.cluster;
    this.database = o.database;
    this.log = o.log;
    this.user = o.user;
    this.pid = o.pid ?? randomInt(1, 2 ** 31 - 1);
    this.login = o.login ?? { role: o.user };
    this.#settings = startupSettings(o.startupParams);
    this.#settingsKey = settingsKey(this.#settings);
  }

  get inTransaction(): boolean {
    return this.status !== 'I';
  }

  /** Whether the client's open transaction reached nodes other than the home node. */
  get distributedTx(): boolean {
    return this.#txNodes.size > 0;
  }

  /**
   * The node this session's statements on ordinary tables (and transaction bookkeeping) go to: node 0 unless it is
   * down. Chosen again only between transactions, when the session holds no connection to it.
   */
  get home(): number {
    if (this.#homeId < 0 || (this.status === 'I' && !this.pinned && !this.#conns.has(this.#homeId))) {
      this.#homeId = this.cluster.homeNode(this.database);
    }
    return this.#homeId;
  }

  /** The connection to the home node, when the session holds one. */
  get homeConn(): NodeConnection | undefined {
    return this.#conns.get(this.home);
  }

  /** The session's settings and SET LOCALs as a key (what a statement's description depends on besides its text). */
  get settingsKey(): string {
    return `${this.#settingsKey}\0${this.#localKey}`;
  }

  heldConns = (): NodeConnection[] => [...this.#conns.values()];
  nextTurn = (): number => this.#turn++;
  setting = (name: string): string | undefined => (this.#localValues.has(name) ? (this.#localValues.get(name) ?? undefined) : this.#settings.get(name));
  /** The SET LOCAL statements a connection in the transaction has run (part of its shard statements' names). */
  get #localKey(): string {
    return this.#localSets.join(';');
  }

  // ---- connections ----

  conn = (nodeId: number): Promise<NodeConnection> => this.acquire(nodeId);
  held = (nodeId: number): NodeConnection | undefined => this.#conns.get(nodeId);
  roundTrip = (nodeId: number, ms: number): void => this.cluster.metrics.shardRoundTrip(nodeId, ms);

  /** This session's connection to a node, taken from the pool with the session's settings applied. */
  acquire(nodeId: number = this.home): Promise<NodeConnection> {
    const held = this.#conns.get(nodeId);
    if (held) return Promise.resolve(held);
    try {
      const pool = this.#pool(nodeId);
      const conn = pool.takeIdle(this.login.role);
      if (conn && conn.backend.settingsKey === this.#settingsKey && (nodeId === this.home || this.status === 'I')) {
        this.#conns.set(nodeId, conn);
        pool.holdBy(conn, this.#who);
        return Promise.resolve(conn);
      }
      return this.#open(nodeId, pool, conn);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** acquire's slow part: a connection to wait for, make, or set up (not async above: it runs per statement). */
  async #open(nodeId: number, pool: NodePool, conn: NodeConnection | undefined): Promise<NodeConnection> {
    try {
      conn ??= await pool.acquire(this.login.role);
    } catch (e) {
      // A home node found down between transactions: another node stands in for it.
      const rehome = nodeId === this.#homeId && this.status === 'I' && !this.pinned && isConnectionFailure(e);
      if (!rehome) throw e;
      const others = (this.cluster.catalogNodes(this.database) ?? this.cluster.members()).filter((n) => n !== nodeId && this.cluster.isUp(n));
      if (!others.length) throw e;
      this.cluster.markDown(nodeId);
      const next = this.cluster.homeNode(this.database);
      this.#homeId = next;
      return this.acquire(next);
    }
    try {
      await applySettings(conn, this.#settings, this.#settingsKey);
      if (nodeId !== this.home && this.status !== 'I') {
        // The client's transaction reaches this node now.
        await runQuery(conn, 'BEGIN');
        this.#txNodes.add(nodeId);
        for (const sql of this.#localSets) await runQuery(conn, sql);
        conn.backend.localSettings = this.#localKey;
      }
    } catch (e) {
      await pool.release(conn, false);
      throw e;
    }
    this.#conns.set(nodeId, conn);
    pool.holdBy(conn, this.#who);
    return conn;
  }

  /** The pool of this session's connections to a node (they act as the client's role). */
  #pool = (nodeId: number): NodePool => this.cluster.pool(nodeId, this.database, this.login);

  /** Shard write locks of writes in the open transaction: a repair must not copy a shard before they commit. */
  #locks: Array<() => void> = [];

  keepLocks(unlock: Array<() => void>): void {
    this.#locks.push(...unlock);
  }

  #releaseLocks(): void {
    if (!this.#locks.length) return;
    for (const u of this.#locks.splice(0)) u();
  }

  /** How another client reads of this session when it waits for the same embedded node. */
  readonly #who = (): string => {
    const app = this.#settings.get('application_name');
    return `session ${this.pid} (user ${this.user}${app ? `, application ${app}` : ''})`;
  };

  /** Returns idle connections to their pools (the home node's stays when session state pins it). */
  release(): Promise<void> {
    let reset: NodeConnection[] | undefined;
    for (const [nodeId, conn] of this.#conns) {
      if (nodeId === this.home && this.pinned) continue;
      this.#conns.delete(nodeId);
      conn.backend.localSettings = '';
      if (!this.#pool(conn.nodeId).releaseClean(conn)) (reset ??= []).push(conn);
    }
    return reset ? this.#giveBack(reset) : DONE;
  }

  async #giveBack(conns: NodeConnection[]): Promise<void> {
    for (const c of conns) await this.#pool(c.nodeId).release(c, c.status === 'I');
  }

  /** Forgets this session's connection to a node that was lost. */
  async dropConn(nodeId: number): Promise<void> {
    const c = this.#conns.get(nodeId);
    if (!c) return;
    this.#conns.delete(nodeId);
    this.#txNodes.delete(nodeId);
    c.close();
    await this.#pool(c.nodeId).release(c, false);
  }

  /** Gives back connections whose node was lost (their sockets are broken); says whether there were any. */
  async dropBroken(): Promise<boolean> {
    let any = false;
    for (const [id, c] of [...this.#conns]) {
      if (!c.broken) continue;
      any = true;
      this.#conns.delete(id);
      await this.#pool(c.nodeId).release(c, false);
    }
    return any;
  }

  /** Every held connection back to its pool as unusable (the client is gone). */
  async releaseAll(): Promise<void> {
    this.#releaseLocks();
    this.portals.clear();
    for (const [id, conn] of [...this.#conns]) {
      this.#conns.delete(id);
      await this.#pool(conn.nodeId).release(conn, false);
    }
  }

  async cancel(): Promise<void> {
    await Promise.all([...this.#conns.values()].map((c) => c.cancel()));
  }

  // ---- transaction ----

  /** Runs `fn` in the client's transaction, or in one of the session's own committed when `fn` is done. */
  async inOwnTransaction<T>(fn: () => Promise<T>): Promise<T> {
    if (this.status !== 'I') return fn();
    await this.begin();
    try {
      const result = await fn();
      await this.endTransaction(true);
      return result;
    } catch (e) {
      if (this.status !== 'I') await this.endTransaction(false);
      throw e;
    }
  }

  /** Opens a transaction on the home node, as the client's (an implicit one, or one of vecshard's own). */
  async begin(): Promise<void> {
    await runQuery(await this.acquire(this.home), 'BEGIN');
    this.status = 'T';
  }

  /** Ends the client's transaction on every node it reached: in two phases when `commit`, rolled back otherwise. */
  async endTransaction(commit: boolean): Promise<void> {
    // A rollback goes on without a node that cannot be reached: its part was lost with its backend (a lost home
    // node left the session in a transaction no ROLLBACK could end).
    const conns = await Promise.all([this.home, ...this.#txNodes].map((n) => (commit ? this.acquire(n) : this.acquire(n).catch(() => undefined))));
    this.#txNodes.clear();
    try {
      await endTransaction(conns[0], conns.slice(1).filter((c) => c !== undefined), commit);
      this.status = 'I';
    } finally {
      if (!commit) this.status = 'I';
      this.txEnded();
    }
  }

  /** Puts an open transaction into the failed state, as an error inside it would on Postgres. */
  async abortNodeTransaction(): Promise<void> {
    const conn = this.homeConn;
    if (!conn || this.status === 'I') return;
    conn.write(fe.query('vecshard error'));
    this.status = await conn.readUntilReady(() => {});
  }

  /** A SET LOCAL that ran on the home node: the other nodes in the transaction run it too, and those it reaches later. */
  async spreadLocalSet(raw: RawStmt, sql: string, home: NodeConnection): Promise<void> {
    const n = raw.stmt.VariableSetStmt;
    const args: Node[] = n.args ?? [];
    const value = n.kind === 'VAR_SET_VALUE' ? args.map((a) => constText(a) ?? '').join(', ') : null;
    if (typeof n.name === 'string') this.#localValues.set(n.name.toLowerCase(), value);
    this.#localSets.push(sql);
    home.backend.localSettings = this.#localKey;
    for (const n of this.#txNodes) {
      const c = await this.acquire(n);
      await runQuery(c, sql);
      c.backend.localSettings = this.#localKey;
    }
  }

  /**
   * Between transactions: portals and SET LOCALs end, settings the client changed are read back, and connections
   * go back to the pool.
   */
  idle(): Promise<void> {
    if (this.status !== 'I') return DONE;
    this.#releaseLocks();
    if (this.portals.size) this.portals.clear();
    if (this.#localSets.length) this.#localSets = [];
    this.#localValues.clear();
    const conn = this.homeConn;
    return conn && this.refreshSettings && !this.pinned ? this.#readSettings(conn) : this.release();
  }

  async #readSettings(conn: NodeConnection): Promise<void> {
    this.refreshSettings = false;
    this.#settings = await readSettings(conn, this.customSettings);
    this.#settingsKey = settingsKey(this.#settings);
    conn.backend.settingsKey = this.#settingsKey;
    // Connections to other nodes took the old settings; they are released and get the new ones next time.
    await this.release();
  }

  catalog(): Promise<Catalog> {
    if (this.#txCatalog) {
      if (this.status !== 'I') return Promise.resolve(this.#txCatalog);
      this.txEnded();
    }
    return openCatalog(this.cluster, this.database, this.log, this.#conns.get(this.home));
  }

  async catalogChanged(): Promise<void> {
    if (this.status !== 'I') this.#txCatalog = await loadCatalog(await this.acquire(this.home));
    else this.cluster.invalidateCatalog(this.database);
  }

  /** After COMMIT or ROLLBACK: drop the private catalog; a commit may have changed everyone's. */
  txEnded(): void {
    if (!this.#txCatalog) return;
    this.#txCatalog = undefined;
    this.cluster.invalidateCatalog(this.database);
  }

  /** Plans one statement against the session's catalog and settings; the time goes to P5's figures. */
  async plan(raw: RawStmt, text: string, params: BoundParams): Promise<StatementPlan> {
    const catalog = await this.catalog();
    const t0 = performance.now();
    try {
      return await planStatement(raw, text, this.planContext(catalog, params));
    } finally {
      this.timing.planMs = performance.now() - t0;
    }
  }

  /** Bytes of rows a statement may gather on the coordinator (vecshard.work_mem, read as Postgres reads work_mem). */
  get resultLimitBytes(): number {
    const text = this.#localValues.get('vecshard.work_mem') ?? this.#settings.get('vecshard.work_mem');
    return (text && parseMemory(text)) || DEFAULT_RESULT_LIMIT;
  }

  /** What the planner needs to know of this session and the cluster to plan one statement. */
  planContext(catalog: Catalog, params: BoundParams): StatementContext {
    return {
      catalog,
      params,
      settings: this.#localValues.size ? withLocal(this.#settings, this.#localValues) : this.#settings,
      nodeCount: this.cluster.members().length,
      evalDefault: this.evalDefault,
      sqlPrepared: this.sqlPrepared,
      nodes: nodeStates(this.cluster),
      tasks: this.cluster.tasks,
    };
  }

  /** Values of a column default (a sequence on node 0) for rows a write leaves without one. */
  evalDefault = (expr: string, n: number): Promise<Array<string | null>> => evalDefault(this, expr, n);
}
