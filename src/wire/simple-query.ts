// The simple query protocol: a Query message, one or more statements, answered and closed by ReadyForQuery.
import { stopWatching } from '../metadata/catalog-watch.ts';
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { classify, classifyPlain, mayName, quoteProbesAll } from '../sql/classify.ts';
import { parseSql, stmtKind, stmtText, type RawStmt } from '../sql/parse.ts';
import { planQuery } from '../planner/plan.ts';
import { NO_PARAMS } from '../planner/params.ts';
import { PgError } from '../errors.ts';
import { requireDatabaseRight } from '../operations/admin.ts';
import { quoteIdent } from '../sql/quote.ts';
import type { ClientSession } from './session.ts';
import { learnTextRoute, textRouted } from './routed-text.ts';

export async function simpleQuery(cs: ClientSession, frame: Buffer): Promise<void> {
  const s = cs.s;
  let sql = fe.readQuery(frame);
  const quoted = quoteProbesAll(sql);
  if (quoted !== sql) frame = fe.query((sql = quoted));
  // Seen before as a read of one shard picked by a literal: straight to that shard (routed-text.ts).
  const routed = textRouted(cs, sql);
  if (routed && (await routed)) return;
  const t0 = performance.now();
  // A plain statement that names no distributed table goes to the home node as it is, without being parsed.
  const plain = s.home === 0 && !s.distributedTx ? classifyPlain(sql) : undefined;
  const catalog0 = plain ? await s.catalog() : undefined;
  const q = plain && !mayName(sql, catalog0!, () => [...[...catalog0!.tables.values()].map((t) => t.name), ...[...catalog0!.views.values()].map((v) => v.name)]) ? plain : classify(sql);
  s.timing.parseMs = performance.now() - t0;
  for (const n of q.customSettings) s.customSettings.add(n);
  const plan = planQuery(q, s.inTransaction);
  switch (plan.kind) {
    case 'error':
      await s.abortNodeTransaction();
      cs.ctx.send(be.errorResponse(plan.error));
      return cs.ready(s.status === 'I' ? 'I' : 'E');
    case 'createdb':
      await requireDatabaseRight(s, 'create', plan.name);
      await s.release();
      // Made by vecshard's own user on each node; owned, as on Postgres, by the role that asked.
      await s.cluster.createDatabase(plan.name, /\bowner\b/i.test(plan.text) ? plan.text : `${plan.text.replace(/[\s;]+$/, '')} OWNER ${quoteIdent(s.login.role)}`);
      cs.ctx.send(be.commandComplete('CREATE DATABASE'));
      return cs.ready('I');
    case 'dropdb':
      if (plan.name === s.database) {
        throw new PgError({ severity: 'ERROR', code: '55006', message: 'cannot drop the currently open database' });
      }
      await requireDatabaseRight(s, 'drop', plan.name);
      await s.release();
      stopWatching(s.cluster, plan.name);
      if (!(await s.cluster.dropDatabase(plan.name, plan.text, plan.ifExists))) {
        cs.ctx.send(be.noticeResponse({ severity: 'NOTICE', code: '00000', message: `database "${plan.name}" does not exist, skipping` }));
      }
      cs.ctx.send(be.commandComplete('DROP DATABASE'));
      return cs.ready('I');
  }
  const catalog = catalog0 ?? (await s.catalog());
  const fast = q === plain || q.unparsed || (catalog.empty && !q.allNodes && !s.distributedTx && !/create_distributed_table|create_reference_table|citus|vecshard\./i.test(sql));
  if (fast && (s.home === 0 || q.unparsed)) {
    if (plan.kind === 'copy-in') return cs.copy.start(frame, q.pins);
    const conn = await s.acquire();
    if (q.pins) s.pinned = true;
    if (q.changesSettings) s.refreshSettings = true;
    const t0 = performance.now();
    conn.write(frame);
    await cs.relayUntilReady(conn);
    cs.observe(sql, { kind: 'passthrough' }, performance.now() - t0);
    return cs.afterReady();
  }
  // Statement by statement: each is planned against the catalog and runs where it must.
  if (q.pins) s.pinned = true;
  if (q.changesSettings) s.refreshSettings = true;
  const stmts = parseSql(sql) as RawStmt[];
  // Several statements outside a transaction form one implicit transaction, as on Postgres, unless one of them
  // cannot run inside one.
  const implicit =
    stmts.length > 1 &&
    s.status === 'I' &&
    !/create_distributed_table|create_reference_table/i.test(sql) &&
    !stmts.some((r) => ['TransactionStmt', 'VacuumStmt'].includes(stmtKind(r)) || r.stmt.IndexStmt?.concurrent);
  if (implicit) await s.begin();
  let ok = true;
  for (const raw of stmts) {
    const text = stmtText(sql, raw);
    const p = await cs.plan(raw, text, NO_PARAMS);
    if (stmts.length === 1 && p.kind === 'distributed') learnTextRoute(cs, sql, p, catalog);
    if (p.kind === 'copy-in' || (p.kind === 'passthrough' && stmtKind(raw) === 'CopyStmt' && raw.stmt.CopyStmt.is_from && !raw.stmt.CopyStmt.filename)) {
      if (stmts.length > 1) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN must be the only statement in its query string' });
      if (p.kind === 'copy-in' && p.table) return cs.copy.startDistributed(p);
      return cs.copy.start(frame, q.pins);
    }
    const t0 = performance.now();
    const done = await cs.runStatement(raw, text, p, cs.client, [], true, NO_PARAMS);
    cs.observe(text, p, performance.now() - t0);
    if (!done) {
      ok = false;
      break;
    }
  }
  if (implicit) await s.endTransaction(ok && s.status === 'T');
  cs.ctx.send(be.readyForQuery(s.status));
  return cs.afterReady();
}
