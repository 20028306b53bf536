// One client's session: takes its protocol messages in order, runs them on node connections, answers in order.
import { createHash, randomInt } from 'node:crypto';
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { classify } from '../sql/classify.ts';
import { planQuery } from '../planner/plan.ts';
import { applySettings, readSettings, settingsKey, startupSettings, type Settings } from '../executor/settings.ts';
import { PgError, type NodeConnection, type TxStatus } from '../shards/node-connection.ts';
import type { Cluster } from '../shards/cluster.ts';
import type { Logger } from 'pino';

/** The node that holds everything that is not distributed. */
const HOME_NODE = 0;

interface PreparedStatement {
  sql: string;
  paramTypes: number[];
  /** Name on node connections: shared by every session that prepares the same text and types. */
  nodeName: string;
  /** For the unnamed statement: which Parse this is, so a connection parsed by someone else parses again. */
  owner: object;
  pins: boolean;
  changesSettings: boolean;
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
}

export interface SessionContext {
  cluster: Cluster;
  database: string;
  user: string;
  startupParams: Record<string, string>;
  send(data: Buffer): void;
  flush(): Promise<void>;
  log: Logger;
}

export class ClientSession {
  readonly pid = randomInt(1, 2 ** 31 - 1);
  readonly secret = randomInt(0, 2 ** 31 - 1);
  #settings: Settings;
  #settingsKey: string;
  #conn: NodeConnection | undefined;
  #pinned = false;
  #refreshSettings = false;
  #status: TxStatus = 'I';
  #statements = new Map<string, PreparedStatement>();
  // The extended-protocol batch being built until Sync or Flush.
  #out: Buffer[] = [];
  #entries: Entry[] = [];
  #batchFailed = false;
  #copyIn = false;
  closed = false;

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
          return this.#forward('execute', frame);
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
      await this.#fail(e);
    }
  }

  // ---- simple query ----

  async #simpleQuery(frame: Buffer): Promise<void> {
    const sql = fe.readQuery(frame);
    const q = classify(sql);
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
      case 'copy-in':
        return this.#startCopyIn(frame, q.pins);
      case 'passthrough': {
        const conn = await this.#acquire();
        if (q.pins) this.#pinned = true;
        if (q.changesSettings) this.#refreshSettings = true;
        conn.write(frame);
        await this.#relayUntilReady(conn);
        return this.#afterReady();
      }
    }
  }

  async #relayUntilReady(conn: NodeConnection): Promise<void> {
    const status = await conn.readUntilReady((f) => {
      if (f[0] !== 0x5a) this.ctx.send(f);
    });
    this.#status = status;
    this.ctx.send(be.readyForQuery(status));
  }

  async #ready(status: TxStatus): Promise<void> {
    this.#status = status;
    this.ctx.send(be.readyForQuery(status));
    await this.ctx.flush();
  }

  /** After ReadyForQuery: outside a transaction the connection goes back to the pool, with settings re-read if changed. */
  async #afterReady(): Promise<void> {
    await this.ctx.flush();
    const conn = this.#conn;
    if (!conn || this.#status !== 'I' || this.#pinned) return;
    if (this.#refreshSettings) {
      this.#refreshSettings = false;
      this.#settings = await readSettings(conn);
      this.#settingsKey = settingsKey(this.#settings);
      conn.settingsKey = this.#settingsKey;
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

  async #copyMessage(type: string, frame: Buffer): Promise<void> {
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

  // ---- extended protocol ----

  async #parse(frame: Buffer): Promise<void> {
    const m = fe.readParse(frame);
    if (this.#batchFailed) return;
    if (m.name !== '' && this.#statements.has(m.name)) {
      return this.#batchError({ severity: 'ERROR', code: '42P05', message: `prepared statement "${m.name}" already exists` }, 'parse');
    }
    const q = classify(m.sql);
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
    this.#statements.set(m.name, st);
    const conn = await this.#acquire();
    if (st.nodeName !== '' && conn.prepared.has(st.nodeName)) {
      this.#entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
      return;
    }
    this.#queueParse(conn, st, true);
  }

  #queueParse(conn: NodeConnection, st: PreparedStatement, forward: boolean): void {
    this.#out.push(fe.parse({ name: st.nodeName, sql: st.sql, paramTypes: st.paramTypes }));
    this.#entries.push({ kind: 'parse', forward, nodeName: st.nodeName });
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
    this.#out.push(fe.bind({ ...h, statement: st.nodeName }));
    this.#entries.push({ kind: 'bind', forward: true });
  }

  async #describe(frame: Buffer): Promise<void> {
    if (this.#batchFailed) return;
    const t = fe.readTarget(frame);
    if (t.kind === 'P') return this.#forward('describe-P', frame);
    const st = await this.#ensureStatement(t.name, 'describe-S');
    if (!st) return;
    this.#out.push(fe.describe({ kind: 'S', name: st.nodeName }));
    this.#entries.push({ kind: 'describe-S', forward: true });
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
    this.#out.push(fe.sync());
    this.#entries.push({ kind: 'sync', forward: true });
    await this.#pump(this.#conn);
    await this.#afterReady();
  }

  async #flushBatch(): Promise<void> {
    if (this.#conn) this.#out.push(fe.flush());
    await this.#pump(this.#conn);
    await this.ctx.flush();
  }

  /** Sends the batch and relays the node's answers, entry by entry, until every entry has its answer. */
  async #pump(conn: NodeConnection | undefined): Promise<void> {
    if (conn && this.#out.length) conn.write(Buffer.concat(this.#out.splice(0)));
    let failed = false;
    while (this.#entries.length) {
      const e = this.#entries[0];
      if (e.synthetic) {
        if (!failed) this.ctx.send(e.synthetic);
        if (e.synthetic[0] === 0x45) failed = true;
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
        if (e.nodeName) conn.prepared.delete(e.nodeName);
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

  async #acquire(): Promise<NodeConnection> {
    if (this.#conn) return this.#conn;
    const pool = this.ctx.cluster.pool(HOME_NODE, this.ctx.database);
    const conn = await pool.acquire();
    try {
      await applySettings(conn, this.#settings, this.#settingsKey);
    } catch (e) {
      await pool.release(conn, false);
      throw e;
    }
    this.#conn = conn;
    return conn;
  }

  async #release(): Promise<void> {
    const conn = this.#conn;
    if (!conn) return;
    this.#conn = undefined;
    await this.ctx.cluster.pool(conn.nodeId, conn.database).release(conn, !this.#pinned);
  }

  /** Puts an open node transaction into the failed state, as an error inside it would on Postgres. */
  async #abortNodeTransaction(): Promise<void> {
    const conn = this.#conn;
    if (!conn || this.#status === 'I') return;
    conn.write(fe.query('vecshard error'));
    this.#status = await conn.readUntilReady(() => {});
  }

  async #fail(e: unknown): Promise<void> {
    this.#out = [];
    this.#entries = [];
    this.#batchFailed = false;
    this.#copyIn = false;
    const conn = this.#conn;
    const lostNode = conn?.broken ?? false;
    const fields: be.PgErrorFields =
      e instanceof PgError ? e.fields : { severity: 'ERROR', code: 'XX000', message: `vecshard: ${(e as Error)?.message ?? String(e)}` };
    if (!(e instanceof PgError)) this.ctx.log.error({ err: e }, 'internal error');
    if (fields.severity === 'FATAL' || (lostNode && this.#status !== 'I')) {
      // A transaction on a lost node cannot go on; Postgres ends the session in that case too.
      this.ctx.send(be.errorResponse({ ...fields, severity: 'FATAL' }));
      await this.ctx.flush().catch(() => {});
      await this.close();
      return;
    }
    if (lostNode) await this.#release();
    this.ctx.send(be.errorResponse(fields));
    await this.#ready(this.#conn ? this.#conn.status : 'I').catch(() => {});
    if (this.#conn && this.#status === 'I' && !this.#pinned) await this.#release();
  }

  async cancel(): Promise<void> {
    await this.#conn?.cancel();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const conn = this.#conn;
    if (!conn) return;
    this.#conn = undefined;
    await this.ctx.cluster.pool(conn.nodeId, conn.database).release(conn, false);
  }
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
