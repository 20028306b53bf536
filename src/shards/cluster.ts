// The nodes behind the coordinator, and a pool per node and database.
import { Metrics } from '../observe/metrics.ts';
import { KnnStats } from '../observe/knn-stats.ts';
import { ShardLock } from './shard-lock.ts';
import fs from 'node:fs';
import path from 'node:path';
import { type NodeConnection } from './node-connection.ts';
import { PgNodeConnection, type PgNodeAddress } from './pg-node.ts';
import { HealthChecks } from './health.ts';
import { PgliteConnection, PgliteInstance } from './pglite-node.ts';
import { NodePool } from './pool.ts';
import type { Login } from './login.ts';
import type { Catalog } from '../metadata/catalog.ts';
import { runQuery, type TextResult } from './internal-query.ts';
import { PgError, connectionFailure } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';

export type NodeSpec = (({ kind: 'postgres'; poolSize: number; url?: string } & PgNodeAddress) | { kind: 'pglite'; dataDir: string }) & {
  /** Removed with vecshard.remove_node: its id stays taken so other ids do not change. */
  removed?: boolean;
};

/** A copy of a shard being built (repair, move, rebalance), for the vecshard.tasks view. */
export interface CopyTask {
  id: number;
  kind: 'repair' | 'move';
  database: string;
  shardId: number;
  shard: string;
  source: number;
  target: number;
  rowsDone: number;
  rowsTotal: number;
  state: 'running' | 'done' | 'failed';
  startedAt: Date;
  finishedAt?: Date;
  error?: string;
}

export interface ClusterOptions {
  connectTimeoutMs: number;
  acquireTimeoutMs: number;
  healthCheckTimeoutMs?: number;
  readTimeoutMs?: number;
}

/** The database every node has, used for administration (as Postgres's own tools do). */
export const MAINTENANCE_DB = 'postgres';

export class Cluster {
  readonly stats = new KnnStats();
  readonly metrics = new Metrics();
  #pools = new Map<string, NodePool>();
  /** Nodes the health checks (or a failed connection) found down; skipped until they answer again. */
  #down = new Set<number>();
  #locks = new Map<number, ShardLock>();
  #catalogLocks = new Map<string, ShardLock>();
  #synced = new Map<string, Set<number>>();
  /** Called after a node is added or removed (the coordinator writes the node list back to its config). */
  onMembershipChange: () => void = () => {};
  /** Called when a down node answers again (repair starts from here). */
  onNodeUp: (nodeId: number) => void = () => {};
  #catalogs = new Map<string, Promise<Catalog>>();
  #databases = new Set<string>();
  #pglite = new Map<string, PgliteInstance>();

  constructor(
    readonly nodes: NodeSpec[],
    readonly options: ClusterOptions,
  ) {}

  /**
   * The pool for a node, database and role (see login.ts); a database the node does not have fails on first use
   * with 3D000. A PostgreSQL node has a pool per role; an embedded node's one backend switches roles as it is taken.
   */
  pool(nodeId: number, database: string, login?: Login): NodePool {
    const spec = this.nodes[nodeId];
    const service = spec.kind === 'postgres' ? spec.user : 'postgres';
    const as = spec.kind === 'postgres' && login && login.role !== service ? login : undefined;
    const key = `${nodeId}/${database}${as ? `/${as.role}/${as.scram?.storedKey.toString('base64') ?? ''}` : ''}`;
    let p = this.#pools.get(key);
    if (!p) {
      const max = spec.kind === 'pglite' ? 1 : spec.poolSize;
      p = new NodePool(nodeId, database, { max, acquireTimeoutMs: this.options.acquireTimeoutMs, disposable: spec.kind === 'postgres', serviceUser: service, readTimeoutMs: this.options.readTimeoutMs }, () =>
        this.#open(nodeId, database, as),
      );
      this.#pools.set(key, p);
    }
    return p;
  }

  isUp(nodeId: number): boolean {
    return !this.#down.has(nodeId) && !!this.nodes[nodeId] && !this.nodes[nodeId].removed;
  }

  /** Ids of the nodes that belong to the cluster (not removed), up or down. */
  members(): number[] {
    return this.nodes.flatMap((n, i) => (n.removed ? [] : [i]));
  }

  /** Adds a node; returns its id. */
  addNode(spec: NodeSpec): number {
    this.nodes.push(spec);
    return this.nodes.length - 1;
  }

  /** Takes a node out for good (its copies must have been moved off). */
  removeNode(nodeId: number): void {
    this.nodes[nodeId].removed = true;
    for (const [key, p] of this.#pools) {
      if (!key.startsWith(`${nodeId}/`)) continue;
      p.close();
      this.#pools.delete(key);
    }
    for (const set of this.#synced.values()) set.delete(nodeId);
  }

  /** Copies being built now and lately (the last 100), newest last. */
  readonly tasks: CopyTask[] = [];
  #taskIds = 0;

  startTask(t: Omit<CopyTask, 'id' | 'state' | 'startedAt' | 'rowsDone' | 'rowsTotal'>): CopyTask {
    const task: CopyTask = { ...t, id: ++this.#taskIds, state: 'running', startedAt: new Date(), rowsDone: 0, rowsTotal: 0 };
    this.tasks.push(task);
    if (this.tasks.length > 100) this.tasks.splice(0, this.tasks.length - 100);
    return task;
  }

  markDown(nodeId: number): void {
    if (this.#down.has(nodeId)) return;
    this.#down.add(nodeId);
    // What it missed while down must be copied to it before its catalog copy is trusted again.
    for (const set of this.#synced.values()) set.delete(nodeId);
    for (const p of this.poolsOf(nodeId)) p.closeIdle();
  }

  markUp(nodeId: number): void {
    if (this.#down.delete(nodeId)) this.onNodeUp(nodeId);
  }

  /** Health checks (health.ts); started by the coordinator. */
  readonly health = new HealthChecks(this);

  /** Drops a database's pools that hold no connection (a client asked for a database that is not there). */
  forgetEmptyPools(database: string): void {
    for (const [key, p] of this.#pools) if (p.database === database && p.size === 0 && p.waiting === 0) this.#pools.delete(key);
  }

  /** The pools of a node, one per database and role. */
  poolsOf(nodeId: number): NodePool[] {
    return [...this.#pools].filter(([key]) => key.startsWith(`${nodeId}/`)).map(([, p]) => p);
  }

  /**
   * Nodes whose copy of a database's catalog is known to be current (equal to every other such copy): catalog
   * changes go to these, and reads of the catalog come from them. Undefined until the catalog is first loaded.
   */
  catalogNodes(database: string): number[] | undefined {
    const set = this.#synced.get(database);
    return set && [...set].filter((n) => this.isUp(n)).sort((a, b) => a - b);
  }

  setCatalogNodes(database: string, nodes: number[]): void {
    this.#synced.set(database, new Set(nodes.filter((n) => this.isUp(n))));
  }

  addCatalogNode(database: string, node: number): void {
    if (this.isUp(node)) this.#synced.get(database)?.add(node);
  }

  /**
   * The node that serves a session's statements on tables that are not distributed: node 0, or while it is
   * down (or its catalog copy is behind) the lowest node with a current catalog copy, which has the shells.
   */
  homeNode(database: string): number {
    // Asked for every statement outside a transaction: no arrays made.
    let home = -1;
    for (const n of this.#synced.get(database) ?? []) if ((home < 0 || n < home) && this.isUp(n)) home = n;
    if (home >= 0) return home;
    const up = this.nodes.findIndex((_, i) => this.isUp(i));
    return up < 0 ? 0 : up;
  }

  /** Serialises changes to a database's catalog copies and the bringing up to date of a stale copy. */
  catalogLock(database: string): ShardLock {
    let l = this.#catalogLocks.get(database);
    if (!l) this.#catalogLocks.set(database, (l = new ShardLock()));
    return l;
  }

  /** The write lock of a shard: writers share it; a repair takes it alone while it copies. */
  shardLock(shardId: number): ShardLock {
    let l = this.#locks.get(shardId);
    if (!l) this.#locks.set(shardId, (l = new ShardLock()));
    return l;
  }

  async #open(nodeId: number, database: string, login?: Login): Promise<NodeConnection> {
    const spec = this.nodes[nodeId];
    if (this.#down.has(nodeId)) throw connectionFailure(nodeId, 'the node is down (health checks retry it)');
    if (spec.kind === 'postgres') {
      const c = new PgNodeConnection(nodeId, database, login?.scram ? { ...spec, user: login.role, scram: login.scram } : spec);
      try {
        // A node that takes the TCP connection and then says nothing (stopped) is as silent as one mid-read.
        await c.connect(Math.min(this.options.connectTimeoutMs, this.options.readTimeoutMs || Infinity));
        if (login && !login.scram) await runQuery(c, `SET SESSION AUTHORIZATION ${quoteIdent(login.role)}`);
        c.backend.role = login?.role;
        c.serviceUser = login?.scram ? undefined : spec.user;
      } catch (e) {
        c.close();
        throw e;
      }
      return c;
    }
    const inst = this.#instance(nodeId, database, false);
    await inst.start();
    const c = new PgliteConnection(nodeId, database, inst);
    c.serviceUser = 'postgres';
    // PGlite sends no startup ParameterStatus messages; read the values clients expect from the node itself.
    const r = await runQuery(
      c,
      `SELECT name, setting FROM pg_settings WHERE name IN ('server_version','server_encoding','client_encoding','DateStyle','IntervalStyle','integer_datetimes','standard_conforming_strings','TimeZone','is_superuser','session_authorization','application_name')`,
    );
    for (const [k, v] of r.rows) c.params.set(k!, v ?? '');
    return c;
  }

  /** An embedded database's folder, strictly inside the node's: "." and ".." are encoded too (%2E). */
  #instanceDir(nodeId: number, database: string): string {
    const spec = this.nodes[nodeId];
    if (spec.kind !== 'pglite') throw new Error('not an embedded node');
    const folder = encodeURIComponent(database).replace(/^\.*$/, (dots) => dots.replace(/\./g, '%2E'));
    const dir = path.join(spec.dataDir, folder);
    if (!folder || path.dirname(dir) !== path.resolve(spec.dataDir)) {
      throw new PgError({ severity: 'ERROR', code: '42602', message: `invalid database name for an embedded node: "${database}"` });
    }
    return dir;
  }

  #instance(nodeId: number, database: string, create: boolean): PgliteInstance {
    const key = `${nodeId}/${database}`;
    let inst = this.#pglite.get(key);
    if (inst) return inst;
    const dir = this.#instanceDir(nodeId, database);
    if (!create && database !== MAINTENANCE_DB && !fs.existsSync(dir)) throw databaseMissing(database);
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    inst = new PgliteInstance(nodeId, dir);
    this.#pglite.set(key, inst);
    return inst;
  }

  /** The catalog of a database, loaded once (by `load`) and shared by every session until invalidated. */
  catalog(database: string, load: () => Promise<Catalog>): Promise<Catalog> {
    let c = this.#catalogs.get(database);
    this.#databases.add(database);
    if (!c) {
      c = load();
      this.#catalogs.set(database, c);
      c.then((cat) => this.#loaded.set(database, cat), () => this.#catalogs.delete(database));
    }
    return c;
  }

  /** The catalog last loaded for each database (for metrics and the status page; may be a moment old). */
  #loaded = new Map<string, Catalog>();
  loadedCatalogs(): Array<[string, Catalog]> {
    return [...this.#loaded];
  }

  /** The version of the catalog sessions are served from, if it is loaded and still current here. */
  catalogVersion = (database: string) => (this.#catalogs.has(database) ? this.#loaded.get(database)?.version : undefined);

  poolStats(): Array<{ node: number; database: string; size: number; idle: number; waiting: number }> {
    return [...this.#pools.values()].map((p) => ({ node: p.nodeId, database: p.database, size: p.size, idle: p.idleCount, waiting: p.waiting }));
  }

  #recovered = new Set<string>();

  /** Whether this coordinator has settled left-over prepared transactions in the database. */
  recovered = (database: string) => this.#recovered.has(database);
  setRecovered = (database: string) => void this.#recovered.add(database);

  /** Databases whose catalog this coordinator has loaded. */
  databases(): string[] {
    return [...this.#databases];
  }

  invalidateCatalog(database: string): void {
    this.#catalogs.delete(database);
  }

  /** Runs CREATE DATABASE on every node; undone on the nodes that took it if one fails. */
  async createDatabase(name: string, statement: string): Promise<void> {
    const done: number[] = [];
    try {
      for (const id of this.members()) {
        const spec = this.nodes[id];
        if (spec.kind === 'pglite') {
          if (name === MAINTENANCE_DB || fs.existsSync(this.#instanceDir(id, name))) {
            throw new PgError({ severity: 'ERROR', code: '42P04', message: `database "${name}" already exists` });
          }
          await this.#instance(id, name, true).start();
        } else await this.#admin(id, statement);
        done.push(id);
      }
    } catch (e) {
      for (const id of done) await this.#dropOn(id, name, `DROP DATABASE IF EXISTS ${quoteIdent(name)}`).catch(() => {});
      throw e;
    }
  }

  /** Runs DROP DATABASE on every node, after closing vecshard's idle connections to it. */
  async dropDatabase(name: string, statement: string, ifExists: boolean): Promise<boolean> {
    let existed = false;
    for (const id of this.members()) {
      try {
        await this.#dropOn(id, name, statement);
        existed = true;
      } catch (e) {
        if (e instanceof PgError && e.fields.code === '3D000' && ifExists) continue;
        throw e;
      }
    }
    return existed;
  }

  async #dropOn(id: number, name: string, statement: string): Promise<void> {
    const key = `${id}/${name}`;
    const pools = [...this.#pools].filter(([k]) => k === key || k.startsWith(`${key}/`));
    const busy = pools.reduce((n, [, p]) => n + p.size - p.idleCount, 0);
    if (busy) {
      throw new PgError({ severity: 'ERROR', code: '55006', message: `database "${name}" is being accessed by other users`, detail: `There are ${busy} sessions using the database through vecshard.` });
    }
    for (const [k, p] of pools) {
      p.close();
      this.#pools.delete(k);
    }
    this.#catalogs.delete(name);
    this.#synced.delete(name);
    const spec = this.nodes[id];
    if (spec.kind === 'postgres') {
      const r = await this.#admin(id, `SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(name)}`);
      if (r.rows.length === 0) throw databaseMissing(name);
      await this.#admin(id, statement);
      return;
    }
    if (name === MAINTENANCE_DB) throw new PgError({ severity: 'ERROR', code: '55006', message: `cannot drop the embedded node's "${name}" database` });
    const dir = this.#instanceDir(id, name);
    if (!fs.existsSync(dir)) throw databaseMissing(name, 'ERROR');
    await this.#pglite.get(key)?.stop();
    this.#pglite.delete(key);
    fs.rmSync(dir, { recursive: true, force: true });
  }

  /** Creates database `name` on node `id` unless it has it (a node joining the cluster). */
  async ensureDatabase(id: number, name: string): Promise<void> {
    const spec = this.nodes[id];
    if (spec.kind === 'pglite') {
      await this.#instance(id, name, true).start();
      return;
    }
    const r = await this.#admin(id, `SELECT 1 FROM pg_database WHERE datname = ${quoteLiteral(name)}`);
    if (!r.rows.length) await this.#admin(id, `CREATE DATABASE ${quoteIdent(name)}`);
  }

  /** The databases clients can use, as node `id` lists them. */
  async listDatabases(id: number): Promise<string[]> {
    const spec = this.nodes[id];
    if (spec.kind === 'pglite') {
      if (!fs.existsSync(spec.dataDir)) return [MAINTENANCE_DB];
      return [...new Set([MAINTENANCE_DB, ...fs.readdirSync(spec.dataDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => decodeURIComponent(d.name))])];
    }
    return (await this.#admin(id, 'SELECT datname FROM pg_database WHERE NOT datistemplate AND datallowconn ORDER BY 1')).rows.map((r) => r[0]!);
  }

  async #admin(id: number, statement: string): Promise<TextResult> {
    const pool = this.pool(id, MAINTENANCE_DB);
    const c = await pool.acquire();
    try {
      return await runQuery(c, statement);
    } finally {
      await pool.release(c, true);
    }
  }

  async close(): Promise<void> {
    this.health.stop();
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    await Promise.all([...this.#pglite.values()].map((i) => i.stop()));
    this.#pglite.clear();
  }
}

/** FATAL at startup; ERROR for DROP DATABASE, as Postgres says it. */
function databaseMissing(name: string, severity: 'FATAL' | 'ERROR' = 'FATAL'): PgError {
  return new PgError({ severity, code: '3D000', message: `database "${name}" does not exist` });
}
