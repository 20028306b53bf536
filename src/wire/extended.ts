// The extended query protocol: Parse, Bind, Describe, Execute and Close are batched until Sync or Flush, then sent
// to the home node in one write; for each message an entry records the answer the client expects, from the node
// or from vecshard itself. A portal bound to a distributed statement is run by the coordinator at Execute.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { classify, quoteProbesAll } from '../sql/classify.ts';
import { parseSql, stmtKind, type RawStmt } from '../sql/parse.ts';
import { protectedError, vecshardFunction } from '../planner/statement.ts';
import { changesProtected } from '../sql/protected.ts';
import { distributedTables, qualifyTables } from '../planner/relations.ts';
import { readBind } from '../planner/params.ts';
import { portalReader } from '../executor/portal-stream.ts';
import { virtualStatement } from '../planner/virtual.ts';
import { shardGeneration } from '../executor/shard-tasks.ts';
import { BufferSink } from '../executor/sink.ts';
import { clientFields, notSupported, standInRefusal } from '../errors.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { countParams, statementName, type PreparedStatement } from '../session/statements.ts';
import { isLocalSet, readsOnly, type ClientSession } from './session.ts';
import { beginImplicit, endImplicit, goesOn } from './implicit-tx.ts';
import { completes, opensTransaction, type Entry, type EntryKind } from './entries.ts';
import { answerable, describedKey, learner, lookUp, paramCountError, paramTypes, portalRow, usable } from '../session/described.ts';

/** Statements vecshard keeps prepared on one node connection for its clients. */
const PREPARED_PER_CONNECTION = 500;

export class ExtendedProtocol {
  /** Messages for the home node, sent at Sync or Flush. */
  out: Buffer[] = [];
  entries: Entry[] = [];
  /** An error ended the batch: messages up to Sync are skipped, as Postgres does. */
  failed = false;
  /** The batch runs in a transaction vecshard opened for it (implicit-tx.ts), ended at its Sync. */
  implicit = false;
  /** Executes in the batch so far (since the last Sync). */
  executed = 0;

  constructor(readonly cs: ClientSession) {}

  reset(): void {
    this.out = [];
    this.entries = [];
    this.failed = false;
  }

  async parse(frame: Buffer): Promise<void> {
    const { cs } = this;
    const s = cs.s;
    const m = fe.readParse(frame);
    const sent = m.sql;
    m.sql = quoteProbesAll(m.sql);
    if (this.failed) return;
    if (m.name !== '' && s.statements.has(m.name)) {
      return this.error({ severity: 'ERROR', code: '42P05', message: `prepared statement "${m.name}" already exists` }, 'parse');
    }
    const t0 = performance.now();
    const q = classify(m.sql);
    s.timing.parseMs = performance.now() - t0;
    for (const n of q.customSettings) s.customSettings.add(n);
    const refused = q.statements.find((x) => x.kind === 'refused');
    if (refused) return this.error(refused.error, 'parse');
    if (q.statements.some((x) => x.kind === 'copy-in')) {
      return this.error({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN is supported in the simple query protocol only' }, 'parse');
    }
    if (q.statements.some((x) => x.kind === 'createdb' || x.kind === 'dropdb')) {
      return this.error({ severity: 'ERROR', code: '0A000', message: 'vecshard: CREATE/DROP DATABASE is supported in the simple query protocol only' }, 'parse');
    }
    const st: PreparedStatement = {
      sql: m.sql,
      paramTypes: m.paramTypes,
      nodeName: m.name === '' ? '' : statementName(m.sql, m.paramTypes),
      owner: {},
      pins: q.pins,
      changesSettings: q.changesSettings,
    };
    const catalog = await s.catalog();
    if (/create_distributed_table|create_reference_table|vecshard\./i.test(m.sql) && !q.unparsed) {
      // vecshard's own functions exist on no node: the coordinator answers Parse, Bind and Describe itself.
      const [raw] = parseSql(m.sql) as RawStmt[];
      const fn = raw && vecshardFunction(raw.stmt);
      if (fn) {
        const name = raw.stmt.SelectStmt.targetList[0].ResTarget.name ?? fn.name;
        st.distributed = raw;
        st.coordinatorOnly = be.rowDescription([{ name, typeOid: fn.name.startsWith('create_') ? 2278 : 23, typeSize: 4 }]);
        s.statements.set(m.name, st);
        this.entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
        return;
      }
    }
    if (!q.unparsed && (q.allNodes || !catalog.empty)) {
      // Whether it touches a distributed table is known now; the plan waits for the parameters (at Execute).
      const [raw] = parseSql(m.sql) as RawStmt[];
      const guarded = raw && changesProtected(raw.stmt);
      if (guarded) return this.error(protectedError(guarded).error, 'parse');
      if (raw?.stmt.ExecuteStmt && s.sqlPrepared.has(raw.stmt.ExecuteStmt.name)) return this.error(notSupported('EXECUTE in the extended query protocol of a statement prepared with SQL PREPARE', 'Send EXECUTE as a simple query, or prepare the statement with the protocol (Parse) instead.').error, 'parse');
      // SET LOCAL runs as a statement of its own too, so the nodes the transaction reaches get it (spreadLocalSet).
      const named = raw && (qualifyTables(raw.stmt, catalog, s.setting('search_path')) ?? raw.stmt);
      if (raw && (q.allNodes || distributedTables(named, catalog).length || isLocalSet(raw))) st.distributed = raw;
    }
    // vecshard.nodes or vecshard.tasks: node 0 parses their typed shape; the coordinator fills them in at Execute.
    const virtual = !st.distributed && !q.unparsed ? virtualStatement(m.sql) : undefined;
    if (virtual) [st.distributed, st.nodeSql] = [virtual.raw, virtual.shape];
    if (!st.distributed && !q.unparsed && /^\s*(commit|rollback|end|abort|prepare|savepoint|release)\b/i.test(m.sql)) {
      // COMMIT or ROLLBACK may have to end the transaction on other nodes too (postgres.js sends them this way):
      // it runs like a distributed statement, which knows which nodes the transaction reached.
      const [raw] = parseSql(m.sql) as RawStmt[];
      if (raw && stmtKind(raw) === 'TransactionStmt') st.distributed = raw;
    }
    if (s.home !== 0 && !st.distributed) {
      const [raw] = q.unparsed ? [] : ((parseSql(m.sql) as RawStmt[]) ?? []);
      if (raw && !readsOnly(raw)) return this.error(standInRefusal().fields, 'parse');
    }
    // Node 0 keeps it under a name of its catalog generation: after a table changed, a statement prepared before
    // would fail there with "cached plan must not change result type", where a new Parse works on Postgres.
    if (st.distributed && st.nodeName !== '') st.nodeName = statementName(`${shardGeneration()}\0${m.sql}`, m.paramTypes);
    // A read or write of distributed tables described before is answered here; the first time, node 0 describes it.
    const key = st.distributed && answerable(st.distributed) && !q.allNodes && !q.pins && !q.changesSettings && !s.refreshSettings && s.status !== 'E' ? describedKey(m.sql, m.paramTypes, s.settingsKey, `${s.database}\0${s.login.role}`) : undefined;
    st.described = key === undefined ? undefined : lookUp(key);
    s.statements.set(m.name, st);
    if (st.described) return void this.entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
    const conn = await s.acquire();
    if (key !== undefined) {
      if (st.nodeName !== '' && conn.backend.prepared.has(st.nodeName)) this.entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
      else this.#queueParse(conn, st, true, m.name, m.name === st.nodeName && sent === st.sql ? frame : undefined);
      this.out.push(fe.describe({ kind: 'S', name: st.nodeName }));
      this.entries.push({ kind: 'describe-S', forward: false, capture: learner(key, (d) => (st.described = d)) });
      return;
    }
    if (st.nodeName !== '' && conn.backend.prepared.has(st.nodeName)) {
      this.entries.push({ kind: 'parse', forward: true, synthetic: be.parseComplete() });
      return;
    }
    // The client's own message goes as it is when nothing in it changes (the unnamed statement).
    this.#queueParse(conn, st, true, m.name, m.name === st.nodeName && sent === st.sql ? frame : undefined);
  }

  #queueParse(conn: NodeConnection, st: PreparedStatement, forward: boolean, clientName?: string, frame?: Buffer): void {
    this.out.push((!st.nodeSql && frame) || fe.parse({ name: st.nodeName, sql: st.nodeSql ?? st.sql, paramTypes: st.paramTypes }));
    this.entries.push({ kind: 'parse', forward, nodeName: st.nodeName, parsed: clientName === undefined ? undefined : { name: clientName, st } });
    if (st.nodeName === '') conn.backend.unnamedOwner = st.owner;
    else {
      const prepared = conn.backend.prepared;
      prepared.add(st.nodeName);
      // A pooled connection serves client after client, each with statements of its own: the oldest go when there
      // are many, or the node would keep every statement any client ever prepared.
      if (prepared.size > PREPARED_PER_CONNECTION) {
        const oldest = prepared.values().next().value!;
        prepared.delete(oldest);
        this.out.push(fe.close({ kind: 'S', name: oldest }));
        this.entries.push({ kind: 'close', forward: false });
      }
    }
  }

  /** Makes sure the client's statement exists on the connection; returns it, or undefined after queuing an error. */
  async #ensureStatement(name: string, kind: EntryKind): Promise<PreparedStatement | undefined> {
    const st = this.cs.s.statements.get(name);
    if (!st) {
      const message = name === '' ? 'unnamed prepared statement does not exist' : `prepared statement "${name}" does not exist`;
      await this.error({ severity: 'ERROR', code: '26000', message }, kind);
      return undefined;
    }
    if (st.coordinatorOnly || usable(st.described)) return st;
    const conn = await this.cs.s.acquire();
    const missing = st.nodeName === '' ? conn.backend.unnamedOwner !== st.owner : !conn.backend.prepared.has(st.nodeName);
    if (missing) this.#queueParse(conn, st, false);
    return st;
  }

  async bind(frame: Buffer): Promise<void> {
    if (this.failed) return;
    const s = this.cs.s;
    const h = fe.readBindHead(frame);
    const st = await this.#ensureStatement(h.statement, 'bind');
    if (!st) return;
    if (st.pins) s.pinned = true;
    if (st.changesSettings) s.refreshSettings = true;
    if (usable(st.described)) {
      // Checked and kept here; the values reach the shards at Execute.
      const bound = readBind(h.rest, paramTypes(st.paramTypes, st.described));
      const wrong = paramCountError(bound.params.values.length, st.described, h.statement);
      if (wrong) return this.error(wrong, 'bind');
      s.portals.delete(h.portal);
      s.portals.set(h.portal, { stmt: st.distributed!, sql: st.sql, ...bound, described: st.described });
      return void this.entries.push({ kind: 'bind', forward: true, synthetic: be.bindComplete() });
    }
    if (st.coordinatorOnly) {
      s.portals.delete(h.portal);
      s.portals.set(h.portal, { stmt: st.distributed!, sql: st.sql, ...readBind(h.rest, st.paramTypes), coordinatorOnly: st.coordinatorOnly });
      this.entries.push({ kind: 'bind', forward: true, synthetic: be.bindComplete() });
      return;
    }
    this.out.push(fe.bind({ ...h, statement: st.nodeName }));
    this.entries.push({ kind: 'bind', forward: true });
    s.portals.delete(h.portal);
    if (st.distributed) s.portals.set(h.portal, { stmt: st.distributed, sql: st.sql, ...readBind(h.rest, st.paramTypes), prepared: st });
  }

  async describe(frame: Buffer): Promise<void> {
    if (this.failed) return;
    const t = fe.readTarget(frame);
    if (t.kind === 'P') {
      const dp = this.cs.s.portals.get(t.name);
      if (dp?.coordinatorOnly) return void this.entries.push({ kind: 'describe-P', forward: true, synthetic: dp.coordinatorOnly });
      if (dp?.described) return void this.entries.push({ kind: 'describe-P', forward: true, synthetic: portalRow(dp.described, dp.resultFormats) });
      return this.#forward('describe-P', frame);
    }
    const st = await this.#ensureStatement(t.name, 'describe-S');
    if (!st) return;
    if (usable(st.described)) {
      this.entries.push({ kind: 'describe-S', forward: true, synthetic: be.parameterDescription(st.described.params) });
      return void this.entries.push({ kind: 'describe-S', forward: true, synthetic: st.described.row });
    }
    if (st.coordinatorOnly) {
      // Parameters are described as text: every argument of vecshard's functions is read as text.
      const n = st.paramTypes.length || countParams(st.distributed!.stmt);
      this.entries.push({ kind: 'describe-S', forward: true, synthetic: be.parameterDescription(Array.from({ length: n }, (_, i) => st.paramTypes[i] || 25)) });
      this.entries.push({ kind: 'describe-S', forward: true, synthetic: st.coordinatorOnly });
      return;
    }
    this.out.push(fe.describe({ kind: 'S', name: st.nodeName }));
    this.entries.push({ kind: 'describe-S', forward: true });
  }

  async execute(frame: Buffer): Promise<void> {
    if (this.failed) return;
    this.executed++;
    const { cs } = this;
    const { portal, maxRows } = fe.readExecute(frame);
    const dp = cs.s.portals.get(portal);
    if (!dp) {
      cs.ctx.cluster.metrics.relayed('local');
      return this.#forward('execute', frame);
    }
    // Answers to what came before go out first; then vecshard runs the portal on the shards itself.
    await this.flush(false);
    if (this.failed) return;
    try {
      if (dp.stream) return void (await dp.stream.fetch(maxRows, (f) => cs.ctx.send(f)));
      if (!dp.pending) {
        // Types the node inferred for parameters the client left untyped, learnt by now (the Describe went first).
        if (dp.prepared?.described) dp.params.types = paramTypes(dp.prepared.paramTypes, dp.prepared.described);
        // A write with more of the batch after it: they share a transaction up to Sync, as on Postgres.
        if (cs.s.status === 'I' && !readsOnly(dp.stmt) && goesOn(cs.batchAhead, this.executed)) this.implicit = await beginImplicit(cs);
        const plan = await cs.plan(dp.stmt, dp.sql, dp.params);
        // Routed by a parameter: later lookups of this statement skip the plan (routed-lane.ts).
        if (dp.described && plan.kind === 'distributed' && plan.route && !plan.write && cs.s.status === 'I') dp.described.route = { ...plan.route, table: plan.table, catalog: await cs.s.catalog(), byShard: new Map() };
        // Read in parts by the client: straight from the shards, part by part (portal-stream.ts).
        if (maxRows > 0 && cs.s.status !== 'E' && (dp.stream = await portalReader(plan, cs.s, dp.resultFormats))) {
          return void (await dp.stream.fetch(maxRows, (f) => cs.ctx.send(f)));
        }
        // The portal's rows are kept, so an Execute with a row limit can hand them out in parts.
        const kept = new BufferSink(cs.client);
        const t0 = performance.now();
        await cs.runStatement(dp.stmt, dp.sql, plan, kept, dp.resultFormats, false, dp.params, true);
        cs.observe(dp.sql, plan, performance.now() - t0);
        dp.pending = { rows: kept.rows, complete: kept.complete! };
      }
    } catch (e) {
      const fields = clientFields(e);
      if (!fields) throw e;
      await this.error(fields, 'execute');
      return this.flush(false);
    }
    const { rows, complete } = dp.pending;
    const part = maxRows > 0 ? rows.splice(0, maxRows) : rows.splice(0);
    for (const r of part) cs.ctx.send(r);
    // PortalSuspended while rows remain; CommandComplete once they are all out.
    if (maxRows > 0 && rows.length) cs.ctx.send(be.portalSuspended());
    else cs.ctx.send(complete);
  }

  async close(frame: Buffer): Promise<void> {
    if (this.failed) return;
    const t = fe.readTarget(frame);
    if (t.kind === 'S') {
      // The node keeps its copy: other sessions may share it.
      this.cs.s.statements.delete(t.name);
      this.entries.push({ kind: 'close', forward: true, synthetic: be.closeComplete() });
      return;
    }
    // A portal the coordinator bound was never on the node.
    const ours = this.cs.s.portals.get(t.name)?.described;
    this.cs.s.portals.delete(t.name);
    if (ours) return void this.entries.push({ kind: 'close', forward: true, synthetic: be.closeComplete() });
    return this.#forward('close', frame);
  }

  async #forward(kind: EntryKind, frame: Buffer): Promise<void> {
    if (this.failed) return;
    await this.cs.s.acquire();
    this.out.push(frame);
    this.entries.push({ kind, forward: true });
  }

  /**
   * An error vecshard raises inside a batch. With a node transaction open, an invalid Parse is sent so the node
   * aborts it too, and the node's error is replaced by ours; otherwise the rest of the batch is skipped until Sync.
   */
  async error(err: be.PgErrorFields, kind: EntryKind): Promise<void> {
    const conn = this.cs.s.homeConn;
    if (conn) {
      this.out.push(fe.parse({ name: '', sql: 'vecshard error', paramTypes: [] }));
      this.entries.push({ kind, forward: false, replaceError: be.errorResponse(err) });
      conn.backend.unnamedOwner = undefined;
      return;
    }
    this.entries.push({ kind, forward: true, synthetic: be.errorResponse(err) });
    this.failed = true;
  }

  async sync(): Promise<void> {
    const { cs, implicit } = this;
    this.failed = this.implicit = false;
    this.executed = 0;
    const conn = cs.s.homeConn;
    // Nothing went to the node since its last ReadyForQuery (vecshard answered the batch, and a distributed
    // portal's shard task on this connection ended in a Sync of its own): it would answer with the same status.
    if (!implicit && (!conn || (!this.out.length && this.entries.every((e) => e.synthetic) && conn.atRest && conn.quiet))) {
      await this.#pump(undefined);
      await cs.ready(conn?.status ?? cs.s.status);
      return cs.afterReady();
    }
    this.out.push(fe.sync());
    this.entries.push({ kind: 'sync', forward: !implicit });
    await this.#pump(conn);
    this.failed = false;
    if (implicit) await endImplicit(cs);
    await cs.afterReady();
  }

  /** Flush: what is batched goes to the node, and its answers to the client (`toClient`: flushed at once). */
  async flush(toClient = true): Promise<void> {
    const conn = this.cs.s.homeConn;
    if (conn && (this.out.length || this.entries.some((e) => !e.synthetic))) this.out.push(fe.flush());
    await this.#pump(conn);
    if (toClient) await this.cs.ctx.flush();
  }

  /**
   * The node refused the Parse `e` queued: the statement exists neither on the connection (the next use parses
   * again) nor, when it was the client's own Parse, for the client, as on Postgres.
   */
  parseRefused(conn: NodeConnection, e: Entry): void {
    const statements = this.cs.s.statements;
    if (e.nodeName === '') conn.backend.unnamedOwner = undefined;
    else if (e.nodeName) conn.backend.prepared.delete(e.nodeName);
    if (e.parsed && statements.get(e.parsed.name) === e.parsed.st) statements.delete(e.parsed.name);
  }

  /** Sends the batch and relays the node's answers, entry by entry, until every entry has its answer. */
  async #pump(conn: NodeConnection | undefined): Promise<void> {
    const { cs } = this;
    if (conn && this.out.length) conn.write(Buffer.concat(this.out.splice(0)));
    let failed = false;
    while (this.entries.length) {
      const e = this.entries[0];
      if (e.synthetic) {
        if (!failed) cs.ctx.send(e.synthetic);
        if (e.synthetic[0] === 0x45) failed = this.failed = true;
        this.entries.shift();
        continue;
      }
      if (failed && e.kind !== 'sync') {
        this.entries.shift(); // the node skips messages after an error until Sync
        continue;
      }
      if (!conn) throw new Error('vecshard: batch entry without a node connection');
      const f = await conn.read();
      const t = f[0];
      if (t === 0x4e || t === 0x53 || t === 0x41) {
        // NoticeResponse, ParameterStatus, NotificationResponse may come at any time.
        if (e.forward) cs.ctx.send(f);
        continue;
      }
      if (t === 0x45) {
        failed = true;
        if (e.kind !== 'sync') this.failed = true;
        if (e.nodeName !== undefined) this.parseRefused(conn, e);
        if (e.replaceError) cs.ctx.send(e.replaceError);
        else cs.ctx.send(f); // vecshard's own Parse failing must still reach the client
        this.entries.shift();
        continue;
      }
      if (t === 0x5a) [cs.s.status, failed] = [be.readyStatus(f), false];
      // BEGIN in the same batch as what follows (pgjdbc sends it so): the rest of the batch is in the transaction.
      else if (t === 0x43 && cs.s.status === 'I' && opensTransaction(f)) cs.s.status = 'T';
      e.capture?.(f);
      if (e.forward) cs.ctx.send(f);
      cs.throttle(conn);
      if (completes(e.kind, t)) this.entries.shift();
    }
  }
}
