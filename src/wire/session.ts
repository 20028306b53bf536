// One client's protocol state machine: its messages in order, each handed to the simple-query, extended-protocol
// or COPY handler, answers in order. What the client's session holds lives in src/session; plans run through
// src/executor's runPlan.
import type { Logger } from 'pino';
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { stmtKind, type RawStmt } from '../sql/parse.ts';
import { planLabel, type StatementPlan } from '../planner/statement.ts';
import type { BoundParams } from '../planner/params.ts';
import { runPlan } from '../executor/run.ts';
import { runOnHome } from '../executor/recursive.ts';
import type { Sink } from '../executor/sink.ts';
import { clientFields, PgError, standInRefusal } from '../errors.ts';
import { deallocatesAll, type NodeConnection, type TxStatus } from '../shards/node-connection.ts';
import type { Cluster } from '../shards/cluster.ts';
import { Session } from '../session/session.ts';
import type { Login } from '../shards/login.ts';
import { redactSql } from '../observe/redact.ts';
import { simpleQuery } from './simple-query.ts';
import { ExtendedProtocol } from './extended.ts';
import { relay } from './fast-lane.ts';
import { CopyIn } from './copy-in.ts';
import { endImplicit } from './implicit-tx.ts';
import { DONE } from '../shards/drain.ts';

export interface SessionContext {
  cluster: Cluster;
  database: string;
  user: string;
  login?: Login;
  pid?: number;
  startupParams: Record<string, string>;
  send(data: Buffer): void;
  /** Sends what is queued; resolves once the client's socket has taken it (a client that does not read waits here). */
  flush(): Promise<void>;
  /** Bytes sent to the client and not yet taken by it. */
  backlog?(): number;
  /** Resolves once the client has taken everything sent (or is gone). */
  drained?(): Promise<void>;
  log: Logger;
  slowQueryMs?: number;
}

/** Bytes a client may leave unread before the node sending them is held back (see throttle). */
const BACKLOG_BYTES = 4 * 1024 * 1024;

export class ClientSession {
  readonly s: Session;
  readonly extended: ExtendedProtocol;
  readonly copy: CopyIn;
  /** The client as a sink for a plan's answer. */
  readonly client: Sink;
  closed = false;
  /** The messages that came in the same read as the one being handled, from `next` on (what the batch holds beyond it). */
  ahead: { list: Buffer[]; next: number } = { list: [], next: 0 };

  constructor(readonly ctx: SessionContext) {
    this.s = new Session(ctx);
    this.client = {
      send: (f) => ctx.send(f),
      congested: () => (ctx.backlog?.() ?? 0) >= BACKLOG_BYTES,
      drained: () => (ctx.drained ?? ctx.flush)(),
    };
    this.extended = new ExtendedProtocol(this);
    this.copy = new CopyIn(this);
  }

  get pid(): number {
    return this.s.pid;
  }

  get secret(): number {
    return this.s.secret;
  }

  /** Checks the database and settings on a node connection, then greets the client as Postgres does. */
  async start(): Promise<void> {
    const conn = await this.s.acquire().catch((e) => {
      // Taking the client's role on the home node (SET SESSION AUTHORIZATION) found no such role: as Postgres says it.
      if (e instanceof PgError && e.fields.code === '22023' && /^role .* does not exist$/.test(e.fields.message)) {
        throw new PgError({ severity: 'FATAL', code: '28000', message: `role "${this.s.user}" does not exist` });
      }
      throw e;
    }).catch((e) => {
      // No pool (and no metric series) stays behind for each unknown database or role a client names.
      this.s.cluster.forgetEmptyPools(this.s.database);
      throw e;
    });
    const params = new Map(conn.params);
    await this.s.release();
    for (const [k, v] of params) this.ctx.send(be.parameterStatus(k, v));
    this.ctx.send(be.backendKeyData(this.pid, this.secret));
    this.ctx.send(be.readyForQuery('I'));
    await this.ctx.flush();
  }

  async handle(frame: Buffer): Promise<void> {
    const type = String.fromCharCode(frame[0]);
    const x = this.extended;
    try {
      if (this.copy.active) return await this.copy.message(type, frame);
      switch (type) {
        case 'Q':
          // Amid extended-protocol messages not yet synced: those run first, as Postgres runs each on arrival; after
          // an error in them, Postgres discards everything up to Sync, a Query too (the node would never answer it).
          if (x.out.length || x.entries.length) await x.flush(false);
          if (x.failed) return;
          if (x.implicit) {
            x.implicit = false;
            await endImplicit(this, false);
          }
          return await simpleQuery(this, frame);
        case 'P':
          return await x.parse(frame);
        case 'B':
          return await x.bind(frame);
        case 'D':
          return await x.describe(frame);
        case 'E':
          return await x.execute(frame);
        case 'C':
          return await x.close(frame);
        case 'S':
          return await x.sync();
        case 'H':
          return await x.flush();
        case 'd':
        case 'c':
        case 'f':
          return; // stray COPY messages after a failed COPY are dropped, as Postgres does
        default:
          throw new PgError({ severity: 'FATAL', code: '08P01', message: `invalid frontend message type ${frame[0]}` });
      }
    } catch (e) {
      await this.fail(e, 'PBDECH'.includes(type));
    }
  }

  /** The fast lane for a batch of prepared reads (fast-lane.ts); undefined when it needs the general path. */
  relay(frames: Buffer[]): Promise<boolean> | undefined {
    return relay(this, frames);
  }

  plan(raw: RawStmt, text: string, params: BoundParams): Promise<StatementPlan> {
    return this.s.plan(raw, text, params);
  }

  /**
   * Runs one planned statement, its answer (not ReadyForQuery) going to `sink`. Returns false after an error,
   * which it has reported to the sink, unless `rethrow`. `describe` sends a RowDescription first (simple protocol).
   */
  async runStatement(raw: RawStmt, text: string, plan: StatementPlan, sink: Sink, resultFormats: number[], describe: boolean, params: BoundParams, rethrow = false): Promise<boolean> {
    try {
      if (stmtKind(raw) === 'TransactionStmt' && this.s.distributedTx) return await this.#endDistributedTx(raw, sink);
      // Rewritten by vecshard (its virtual tables) and bound or described in parts: the extended protocol on the node.
      if (plan.kind === 'passthrough' && plan.sql && (params.values.length || !describe)) return (await runOnHome(plan.sql, this.s, sink, { resultFormats, describe, params }), true);
      if (plan.kind === 'passthrough') return await this.#passthrough(raw, plan.sql ?? text, sink);
      const after = await runPlan(plan, this.s, sink, { resultFormats, describe, text, raw, params });
      return after !== undefined ? await this.#passthrough(raw, after, sink) : true;
    } catch (e) {
      const fields = clientFields(e);
      if (!fields || rethrow) throw e;
      await this.s.abortNodeTransaction();
      sink.send(be.errorResponse(fields));
      return false;
    }
  }

  /** The statement on the home node as it is, its answer relayed; SET LOCAL reaches the transaction's other nodes. */
  async #passthrough(raw: RawStmt, sql: string, sink: Sink): Promise<boolean> {
    const s = this.s;
    if (s.home !== 0 && !readsOnly(raw)) throw standInRefusal();
    const conn = await s.acquire();
    conn.write(fe.query(sql));
    let ok = true;
    s.status = await conn.readUntilReady((f) => {
      if (f[0] === 0x45) ok = false;
      this.passOn(f, sink);
      this.throttle(conn);
    });
    if (s.status === 'I') s.txEnded();
    if (ok && s.status === 'T' && isLocalSet(raw)) await s.spreadLocalSet(raw, sql, conn);
    return ok;
  }

  /** COMMIT or ROLLBACK of a client transaction that reached other nodes. */
  async #endDistributedTx(raw: RawStmt, sink: Sink): Promise<boolean> {
    const kind = raw.stmt.TransactionStmt.kind as string;
    if (kind !== 'TRANS_STMT_COMMIT' && kind !== 'TRANS_STMT_ROLLBACK') {
      throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: savepoints and PREPARE TRANSACTION are not supported in a transaction that reached distributed tables' });
    }
    // COMMIT of a failed transaction rolls back, as on Postgres.
    const commit = kind === 'TRANS_STMT_COMMIT' && this.s.status === 'T';
    await this.s.endTransaction(commit);
    sink.send(be.commandComplete(commit ? 'COMMIT' : 'ROLLBACK'));
    return true;
  }

  /**
   * A client that does not read its results slows the node that sends them: past BACKLOG_BYTES not yet taken by
   * the client, the node's socket stops being read until the client has taken them (TCP then holds the node back).
   */
  throttle(conn: NodeConnection): void {
    if (conn.paused || (this.ctx.backlog?.() ?? 0) < BACKLOG_BYTES) return;
    conn.pause();
    void (this.ctx.drained ?? this.ctx.flush)().catch(() => {}).finally(() => conn.resume());
  }

  /** A node's answer relayed as it is; ReadyForQuery is left to the caller. */
  passOn(f: Buffer, sink: Sink = this.client): void {
    if (f[0] !== 0x5a) sink.send(f);
    if (deallocatesAll(f)) this.s.statements.clear(); // as on Postgres, the client's statements are gone too
  }

  async relayUntilReady(conn: NodeConnection): Promise<void> {
    const status = await conn.readUntilReady((f) => {
      this.passOn(f);
      this.throttle(conn);
    });
    this.s.status = status;
    this.ctx.send(be.readyForQuery(status));
  }

  /**
   * What the batch holds after the message being handled, as far as received: another Execute or a Query before
   * its Sync ('goes on'), its Sync first ('ends'), or not yet known (the read ended first).
   */
  get batchAhead(): 'goes on' | 'ends' | 'unknown' {
    const { list, next } = this.ahead;
    for (let i = next; i < list.length; i++) {
      if (list[i][0] === 0x53) return 'ends';
      if (list[i][0] === 0x45 || list[i][0] === 0x51) return 'goes on';
    }
    return 'unknown';
  }

  async ready(status: TxStatus): Promise<void> {
    this.s.status = status;
    this.ctx.send(be.readyForQuery(status));
    await this.ctx.flush();
  }

  /** After ReadyForQuery: outside a transaction, connections go back to the pool (session.idle). */
  afterReady(): Promise<void> {
    // After every statement: no async frame when the flush had nothing to wait for.
    try {
      const flushed = this.ctx.flush();
      return flushed === DONE ? this.s.idle() : flushed.then(() => this.s.idle());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Counts and times a statement (metrics, status page); logs it with its plan when slow. */
  observe(text: string, plan: StatementPlan, ms: number): void {
    const kind = planLabel(plan);
    this.ctx.cluster.metrics.statement(kind, ms);
    const slow = this.ctx.slowQueryMs ?? 1000;
    if (ms < slow) return;
    const detail =
      plan.kind === 'distributed' || plan.kind === 'aggregate'
        ? { strategy: 'strategy' in plan ? plan.strategy : 'aggregate across shards, combined on the home node', shards: plan.tasks.map((t) => `${t.shard}@node${t.nodeId}`), shardSql: plan.tasks[0] && redactSql(plan.tasks[0].sql) }
        : {};
    // Cut after redacting, so a password is never half in the text.
    const sql = redactSql(text);
    this.ctx.log.warn({ ms: Math.round(ms * 10) / 10, kind, sql: sql.length > 2000 ? sql.slice(0, 2000) + '…' : sql, ...detail }, 'slow query');
  }

  /**
   * Reports an error that escaped a message's handler. In the extended protocol the rest of the batch is skipped
   * and ReadyForQuery waits for the client's Sync, as on Postgres: answering it now would put the client one
   * answer out of step.
   */
  async fail(e: unknown, extended = false): Promise<void> {
    const s = this.s;
    this.extended.reset();
    this.copy.reset();
    // A node connection with answers still unread cannot be used again: its next reader would get them.
    for (const c of s.heldConns()) if (!c.quiet) c.close();
    const lostNode = s.heldConns().some((c) => c.broken);
    const fields = clientFields(e) ?? { severity: 'ERROR', code: 'XX000', message: `vecshard: ${(e as Error)?.message ?? String(e)}` };
    if (!clientFields(e)) this.ctx.log.error({ err: e }, 'internal error');
    if (fields.severity === 'FATAL' || (lostNode && s.status !== 'I')) {
      // A transaction on a lost node cannot go on; Postgres ends the session in that case too.
      this.ctx.send(be.errorResponse({ ...fields, severity: 'FATAL' }));
      await this.ctx.flush().catch(() => {});
      await this.close();
      return;
    }
    if (lostNode) await s.dropBroken();
    await s.abortNodeTransaction().catch(() => {});
    this.ctx.send(be.errorResponse(fields));
    if (extended) {
      this.extended.failed = true;
      await this.ctx.flush().catch(() => {});
      return;
    }
    await this.ready(s.homeConn ? s.homeConn.status : s.status === 'I' ? 'I' : 'E').catch(() => {});
    await this.afterReady().catch(() => {});
  }

  async cancel(): Promise<void> {
    await this.s.cancel();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.copy.reset();
    await this.s.releaseAll();
  }
}

/** Statements a node standing in for node 0 may run: it has the shells and catalogs, not node 0's ordinary tables. */
const STAND_IN_KINDS = new Set([
  'VariableSetStmt', 'VariableShowStmt', 'TransactionStmt', 'ExplainStmt', 'DiscardStmt', 'DeallocateStmt', 'PrepareStmt',
  'ExecuteStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt', 'ListenStmt', 'UnlistenStmt', 'NotifyStmt',
]);

export function isLocalSet(raw: RawStmt): boolean {
  return stmtKind(raw) === 'VariableSetStmt' && !!raw.stmt.VariableSetStmt.is_local;
}

export function readsOnly(raw: RawStmt): boolean {
  const kind = stmtKind(raw);
  if (kind === 'SelectStmt') return !raw.stmt.SelectStmt.intoClause && !raw.stmt.SelectStmt.lockingClause;
  return STAND_IN_KINDS.has(kind);
}
