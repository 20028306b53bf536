// Runs a recursive plan: each subquery or CTE that reads tables first, its rows kept (an intermediate result, up
// to vecshard.max_intermediate_result_size) and put back into the statement as constants; then the statement,
// planned again, on the shards — or on the home node when it no longer names a distributed table.
import * as be from '../protocol/backend.ts';
import { bringSubqueryTables, type RecursivePlan, type SubStep, type IntermediateResult } from '../planner/recursive.ts';
import type { StatementPlan } from '../planner/statement.ts';
import { subsetParams, type BoundParams } from '../planner/params.ts';
import { clientFields, PgError } from '../errors.ts';
import { cloneTree, deparse } from '../sql/ast.ts';
import { parseSql, type RawStmt } from '../sql/parse.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { runTasks } from './shard-tasks.ts';
import { columnTypes } from './type-names.ts';
import { runPlan, type RunOptions } from './run.ts';

export async function runRecursive(plan: RecursivePlan, ctx: RunContext, sink: Sink, o: RunOptions, depth = 0): Promise<void> {
  // Data-modifying CTEs: the writes and the statement that reads their rows commit or roll back together.
  if (plan.writes) return ctx.inOwnTransaction(() => runRecursive({ ...plan, writes: false }, ctx, sink, o, depth));
  const first = await resolve(plan, ctx, sink, o.params, depth);
  if (!first.next) return runOuter(first, ctx, sink, o);
  // INSERT ... SELECT of many rows: in parts, all in one transaction, counted as one statement.
  return ctx.inOwnTransaction(async () => {
    const counted = new CountSink(sink);
    for (let r: Resolved | undefined = first; r; r = await r.next?.()) await runOuter(r, ctx, counted, { ...o, describe: o.describe && r === first });
    sink.send(be.commandComplete(`INSERT 0 ${counted.n}`));
  });
}

async function runOuter(r: Resolved, ctx: RunContext, sink: Sink, o: RunOptions): Promise<void> {
  if (r.outer.kind === 'passthrough') return runOnHome(r.outer.sql ?? r.text, ctx, sink, { ...o, params: r.params });
  const rest = await runPlan(r.outer, ctx, sink, { ...o, raw: r.raw, text: r.text, params: r.params });
  if (rest !== undefined) await runOnHome(rest, ctx, sink, { ...o, params: r.params });
}

/**
 * Rows of INSERT ... SELECT put into the statement at a time. The whole SELECT as one VALUES list was parsed,
 * planned and split by shard in one go: 120,000 rows blocked the coordinator (every session) for 3 s.
 */
const INSERT_PART_ROWS = 2000;

export interface Resolved {
  /** The statement's plan once no step is left, and the statement and parameters it was planned from. */
  outer: Exclude<StatementPlan, RecursivePlan>;
  raw: RawStmt;
  text: string;
  params: BoundParams;
  /** INSERT ... SELECT in parts: the statement with the next part of the rows, planned; undefined after the last. */
  next?: () => Promise<Resolved | undefined>;
}

/** Passes a statement's frames on but its CommandComplete, whose row count it adds up. */
class CountSink implements Sink {
  n = 0;
  constructor(readonly next: Sink) {}
  send(f: Buffer): void {
    if (f[0] === 0x43) this.n += Number(/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0);
    else this.next.send(f);
  }
  congested = (): boolean => this.next.congested?.() ?? false;
  drained = (): Promise<void> => this.next.drained?.() ?? Promise.resolve();
}

/**
 * Runs a plan's steps, puts their rows into the statement and plans it again — another round when that plan has
 * steps of its own (a shape the shards cannot answer, pulled up to the home node); each round removes what it ran.
 */
export async function resolve(plan: RecursivePlan, ctx: RunContext, sink: Sink, clientParams: BoundParams, depth = 0): Promise<Resolved> {
  // Rounds and nesting both count: no real statement needs 16, and a planner bug must not loop.
  if (depth >= 16) throw new PgError({ severity: 'ERROR', code: '54001', message: 'vecshard: the statement needed more than 16 rounds or levels of subqueries run first' });
  let emptyInsert = false;
  // Scalar results become parameters after the client's own.
  let params = clientParams;
  const bind = (v: string | null): number => {
    params = { values: [...params.values, v === null ? null : Buffer.from(v)], formats: [...params.formats, 0], types: [...params.types, 0] };
    return params.values.length;
  };
  for (const step of plan.steps) {
    let ir: IntermediateResult;
    try {
      ir = await intermediateResult(step, plan.maxBytes, ctx, sink, params, depth);
    } catch (e) {
      // A correlated subquery: the tables it reads come first, as rows, and it runs inside each shard's statement
      // next to the outer rows it refers to (its own plan has no `original`, so this happens once).
      if (!(e instanceof Correlated) || !plan.original) throw e;
      const another = bringSubqueryTables(plan.original, plan.maxBytes);
      if (!another) throw e.error;
      return resolve(another, ctx, sink, clientParams, depth + 1);
    }
    if (plan.insertSelect && step === plan.steps.at(-1)) {
      if (!ir.rows.length) emptyInsert = true;
      // ON CONFLICT DO UPDATE stays one statement: a row updated twice is an error there, not two updates.
      else if (ir.rows.length > INSERT_PART_ROWS && plan.stmt.InsertStmt?.onConflictClause?.action !== 'ONCONFLICT_UPDATE') {
        const rows = ir.rows;
        const planPart = async (at: number): Promise<Resolved | undefined> => {
          if (at >= rows.length) return undefined;
          step.put({ ...ir, rows: rows.slice(at, at + INSERT_PART_ROWS) }, bind);
          const r = await planned(plan.stmt, ctx, sink, params, depth);
          return { ...r, next: () => planPart(at + INSERT_PART_ROWS) };
        };
        return (await planPart(0))!;
      }
    }
    step.put(ir, bind);
  }
  if (emptyInsert) return { outer: { kind: 'passthrough' }, raw: { stmt: plan.stmt }, text: deparse(plan.stmt), params };
  return planned(plan.stmt, ctx, sink, params, depth);
}

/** The statement, its steps' rows in place, planned (another round when that plan has steps of its own). */
async function planned(stmt: RecursivePlan['stmt'], ctx: RunContext, sink: Sink, params: BoundParams, depth: number): Promise<Resolved> {
  const raw = { stmt };
  const text = deparse(stmt);
  const outer = await ctx.plan(raw, text, params);
  if (outer.kind === 'recursive') return resolve(outer, ctx, sink, params, depth + 1);
  return { outer, raw, text, params };
}

/** A statement on the home node, through the extended protocol so the client's result formats hold. */
export async function runOnHome(sql: string, ctx: RunContext, sink: Sink, o: Pick<RunOptions, 'resultFormats' | 'describe' | 'params'>): Promise<void> {
  let params = o.params;
  if (params.values.length) {
    // Only the parameters the statement still uses, renumbered: Postgres refuses a Bind with more.
    const [parsed] = parseSql(sql) as RawStmt[];
    const copy = cloneTree(parsed.stmt);
    params = subsetParams(copy, o.params);
    sql = deparse(copy);
  }
  const task = { nodeId: ctx.home, shard: '(home)', shardIndex: 0, sql, params };
  const [r] = await runTasks(ctx.conn, [task], o.resultFormats, o.describe, (f) => sink.send(f), ctx.roundTrip, ctx.resultLimitBytes);
  if (o.describe && r.description?.[0] === 0x54) sink.send(r.description);
  for (const row of r.rows) sink.send(row);
  sink.send(be.commandComplete(r.tag));
}

/** Runs one step and reads its rows as text, with the type names the home node gives them. */
async function intermediateResult(step: SubStep, maxBytes: number, ctx: RunContext, sink: Sink, params: BoundParams, depth: number): Promise<IntermediateResult> {
  const raw = { stmt: step.stmt };
  const text = deparse(step.stmt);
  const kept = new ResultSink(sink, maxBytes, step.what);
  const o = { resultFormats: [], describe: true, text, raw, params };
  try {
    const plan = await ctx.plan(raw, text, params);
    if (plan.kind === 'passthrough') await runOnHome(plan.sql ?? text, ctx, kept, o);
    else if (plan.kind === 'recursive') await runRecursive(plan, ctx, kept, o, depth + 1);
    else {
      const rest = await runPlan(plan, ctx, kept, o);
      if (rest !== undefined) await runOnHome(rest, ctx, kept, o);
    }
  } catch (e) {
    const f = clientFields(e);
    // Run on its own, a subquery that refers to the outer query's columns cannot find them.
    if (f && (f.code === '42703' || (f.code === '42P01' && /missing FROM-clause/.test(f.message)))) {
      throw new Correlated({
        severity: 'ERROR',
        code: '0A000',
        message: `vecshard: ${step.what} that refers to the outer query (a correlated subquery) is not supported on distributed tables yet`,
        detail: `Run on its own it failed: ${f.message}`,
        hint: 'Rewrite it as a join, or with IN / EXISTS over a subquery that does not refer to the outer query.',
      });
    }
    throw e;
  }
  // A write without RETURNING has no rows to give.
  if (!kept.description) return { columns: [], rows: [] };
  const fields = be.readRowDescription(kept.description);
  const home = await ctx.conn(ctx.home);
  const types = await columnTypes(home, fields);
  return { columns: fields.map((f, i) => ({ name: f.name, type: types[i] })), rows: kept.rows };
}

/** A step that could not run on its own because it refers to the outer query; `error` is what the client hears. */
class Correlated extends Error {
  readonly error: PgError;
  constructor(fields: ConstructorParameters<typeof PgError>[0]) {
    super(fields.message);
    this.error = new PgError(fields);
  }
}

/** Keeps a step's rows as text, within the byte limit; notices go on to the client. */
class ResultSink implements Sink {
  description: Buffer | undefined;
  readonly rows: Array<Array<string | null>> = [];
  #bytes = 0;
  constructor(
    readonly next: Sink,
    readonly maxBytes: number,
    readonly what: string,
  ) {}
  send(f: Buffer): void {
    if (f[0] === 0x54) this.description ??= f;
    else if (f[0] === 0x44) {
      this.#bytes += f.length;
      if (this.maxBytes >= 0 && this.#bytes > this.maxBytes) {
        throw new PgError({
          severity: 'ERROR',
          code: '54000',
          message: `vecshard: the intermediate result of ${this.what} exceeds vecshard.max_intermediate_result_size (${this.maxBytes} bytes)`,
          hint: 'Filter the subquery further, or raise vecshard.max_intermediate_result_size (for example SET vecshard.max_intermediate_result_size = \'256MB\'; -1 for no limit).',
        });
      }
      this.rows.push(be.readDataRow(f).map((v) => (v === null ? null : v.toString('utf8'))));
    } else if (f[0] !== 0x43) this.next.send(f);
  }
}
