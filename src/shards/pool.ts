// A bounded pool of sessions on one node and database.
import { type NodeConnection } from './node-connection.ts';
import { runQuery } from './internal-query.ts';
import { quoteIdent } from '../sql/quote.ts';
import * as fe from '../protocol/frontend.ts';
import { PgError } from '../errors.ts';

export interface PoolOptions {
  max: number;
  /** How long acquire() waits for a free connection before giving up. */
  acquireTimeoutMs: number;
  /** Whether a connection in an unknown state may simply be closed (TCP) or must be reset (PGlite's one session). */
  disposable: boolean;
  /** Longest a reader waits with nothing from the node (0: no limit); see NodeConnection.readTimeoutMs. */
  readTimeoutMs?: number;
  /** The user vecshard logs in as; a connection acting as a client role goes back to it (SET SESSION AUTHORIZATION). */
  serviceUser: string;
}

export class NodePool {
  #idle: NodeConnection[] = [];
  #size = 0;
  #waiters: Array<{ resolve: (c: NodeConnection) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  #closed = false;
  /** Every open connection of this pool, idle or handed out (to close those stalled on a node that stopped). */
  #all = new Set<NodeConnection>();

  readonly connect: () => Promise<NodeConnection>;

  constructor(
    readonly nodeId: number,
    readonly database: string,
    readonly options: PoolOptions,
    open: () => Promise<NodeConnection>,
  ) {
    this.connect = async () => {
      const c = await open();
      c.readTimeoutMs = options.readTimeoutMs ?? 0;
      this.#all.add(c);
      return c;
    };
  }

  /**
   * Closes the connections that wait for an answer and have heard nothing for `silentMs`: the node was found not
   * answering, and those waits would never end. Their readers get a connection failure (reads retry elsewhere).
   */
  closeStalled(silentMs: number): number {
    let n = 0;
    const now = performance.now();
    for (const c of this.#all) {
      if (c.broken) this.#all.delete(c);
      else if (c.waiting && now - c.lastActivity >= silentMs) {
        c.abort(`it sent nothing for ${Math.round(now - c.lastActivity)} ms while its health check failed`);
        this.#all.delete(c);
        n++;
      }
    }
    return n;
  }

  get size(): number {
    return this.#size;
  }
  get idleCount(): number {
    return this.#idle.length;
  }
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * An idle connection acting as `role` (undefined: the node's own user), if there is one: the common case, without
   * a promise. A connection acting as another role is left for acquire(), which switches it.
   */
  takeIdle(role?: string): NodeConnection | undefined {
    if (this.#closed) return undefined;
    const want = this.#role(role);
    for (;;) {
      const c = this.#idle.pop();
      if (!c) return undefined;
      if (c.broken) {
        this.#size--;
        continue;
      }
      if (c.backend.role === want) return c;
      this.#idle.push(c);
      return undefined;
    }
  }

  #role(role: string | undefined): string | undefined {
    return role === this.options.serviceUser ? undefined : role;
  }

  /** Makes the connection act as `role`: an embedded node's one backend serves every role in turn. */
  async #actAs(conn: NodeConnection, role: string | undefined): Promise<NodeConnection> {
    const want = this.#role(role);
    if (conn.backend.role === want) return conn;
    try {
      await runQuery(conn, `SET SESSION AUTHORIZATION ${quoteIdent(want ?? this.options.serviceUser)}`);
      conn.backend.role = want;
      return conn;
    } catch (e) {
      await this.release(conn, true);
      throw e;
    }
  }

  /** Who holds each connection handed out, for the message a waiter gets (see acquire). */
  #holders = new Map<NodeConnection, () => string>();

  /** Says who holds `conn` (a session, described for another client to read; asked only for that message). */
  holdBy(conn: NodeConnection, who: () => string): void {
    this.#holders.set(conn, who);
  }

  /** A connection acting as `role` (undefined: the node's own user). */
  async acquire(role?: string): Promise<NodeConnection> {
    return this.#actAs(await this.#acquire(), role);
  }

  async #acquire(): Promise<NodeConnection> {
    if (this.#closed) throw new PgError({ severity: 'ERROR', code: '57P01', message: 'vecshard is shutting down' });
    for (let c = this.#idle.pop(); c; c = this.#idle.pop()) {
      if (!c.broken) return c;
      this.#size--;
    }
    if (this.#size < this.options.max) {
      this.#size++;
      try {
        return await this.connect();
      } catch (e) {
        this.#size--;
        this.#wakeNext();
        throw e;
      }
    }
    // An embedded node has one backend: while a client sits idle in a transaction on it, nobody else can have it
    // until that client ends the transaction. Say so at once, naming the holder, instead of after a long wait.
    const idleInTx = this.options.max === 1 && !this.options.disposable ? [...this.#holders].find(([c]) => c.status !== 'I' && c.quiet && !c.broken) : undefined;
    if (idleInTx) {
      throw new PgError({
        severity: 'ERROR',
        code: '55P03',
        message: `vecshard: embedded node ${this.nodeId} runs one transaction at a time, and ${idleInTx[1]()} holds it idle in a transaction`,
        hint: 'End that transaction (COMMIT or ROLLBACK) and try again; PostgreSQL nodes serve transactions side by side.',
      });
    }
    return new Promise<NodeConnection>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== resolve);
        reject(
          new PgError({
            severity: 'ERROR',
            code: '53300',
            message: `vecshard: no free connection to node ${this.nodeId} (database "${this.database}") within ${this.options.acquireTimeoutMs} ms`,
            hint: 'Raise the node pool size or shorten the transactions that hold connections.',
          }),
        );
      }, this.options.acquireTimeoutMs);
      this.#waiters.push({ resolve, reject, timer });
    });
  }

  /**
   * Returns a connection. `clean` says its session holds nothing another client must not inherit; otherwise it is
   * reset (PGlite) or closed (TCP).
   */
  /** Takes back a connection whose session left nothing behind, without a promise; false if release() must. */
  releaseClean(conn: NodeConnection): boolean {
    if (!conn.quiet || conn.broken || conn.status !== 'I' || this.#closed) return false;
    this.#holders.delete(conn);
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(conn);
    } else this.#idle.push(conn);
    return true;
  }

  async release(conn: NodeConnection, clean: boolean): Promise<void> {
    this.#holders.delete(conn);
    // Unread answers (or a read still going on) would reach the next session: such a connection is not reused.
    if (!conn.quiet && !conn.broken) {
      conn.close();
      this.#size--;
      this.#wakeNext();
      return;
    }
    if (!conn.broken && (!clean || conn.status !== 'I')) {
      if (this.options.disposable) conn.close();
      else await this.#reset(conn);
    }
    if (conn.broken || this.#closed) {
      if (!conn.broken) conn.close();
      this.#size--;
      this.#wakeNext();
      return;
    }
    const w = this.#waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(conn);
    } else this.#idle.push(conn);
  }

  async #reset(conn: NodeConnection): Promise<void> {
    try {
      // A client gone in the middle of a COPY: the node ignores Sync until the COPY ends, so end it first.
      if (conn.copying) {
        conn.write(fe.copyFail('vecshard: the client went away during COPY'));
        await conn.readUntilReady(() => {});
      }
      conn.write(fe.sync());
      await conn.readUntilReady(() => {});
      // Separately: DISCARD ALL cannot run in the implicit transaction of a multi-statement query, and when it
      // fails an embedded node's one backend keeps the last client's settings for the next.
      if (conn.status !== 'I') await runQuery(conn, 'ROLLBACK');
      await runQuery(conn, 'DISCARD ALL');
      conn.backend.reset();
    } catch {
      conn.close();
    }
  }

  /** A new connection may be made for the first waiter after one was dropped. */
  #wakeNext(): void {
    const w = this.#waiters.shift();
    if (!w) return;
    clearTimeout(w.timer);
    this.#size++;
    this.connect().then(w.resolve, (e) => {
      this.#size--;
      w.reject(e);
    });
  }

  closeIdle(): void {
    for (const c of this.#idle) {
      c.close();
      this.#size--;
    }
    this.#idle = [];
  }

  close(): void {
    this.#closed = true;
    this.closeIdle();
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new PgError({ severity: 'FATAL', code: '57P01', message: 'vecshard is shutting down' }));
    }
    this.#waiters = [];
  }
}
