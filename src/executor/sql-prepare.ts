// SQL PREPARE / EXECUTE / DEALLOCATE of statements over distributed tables (planner/sql-prepare.ts): the session
// keeps the statement; EXECUTE plans it with the arguments as parameters and runs it as any statement.
import * as be from '../protocol/backend.ts';
import type { SqlPreparePlan } from '../planner/sql-prepare.ts';
import type { BoundParams } from '../planner/params.ts';
import { PgError } from '../errors.ts';
import { cloneTree, constText, deparse, type Node } from '../sql/ast.ts';
import { parseSql, type RawStmt } from '../sql/parse.ts';
import { quoteLiteral } from '../sql/quote.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { runOnHome } from './recursive.ts';
import { runPlan, type RunOptions } from './run.ts';

let checks = 0;

/** Runs the plan; a string back is what the home node runs too (DEALLOCATE ALL, DISCARD ALL). */
export async function runSqlPrepared(plan: SqlPreparePlan, ctx: RunContext, sink: Sink, o: RunOptions): Promise<string | undefined> {
  if (plan.kind === 'sql-prepare') return void (await prepare(plan, ctx, sink));
  if (plan.kind === 'sql-execute') return void (await execute(plan, ctx, sink, o));
  if (!plan.all) {
    ctx.sqlPrepared.delete(plan.name!);
    sink.send(be.commandComplete('DEALLOCATE'));
    return;
  }
  // DISCARD ALL in a transaction block fails on the node, and then nothing is forgotten.
  if (!(o.raw.stmt.DiscardStmt && ctx.inTransaction)) ctx.sqlPrepared.clear();
  return o.text;
}

async function prepare(plan: Extract<SqlPreparePlan, { kind: 'sql-prepare' }>, ctx: RunContext, sink: Sink): Promise<void> {
  const home = await ctx.conn(ctx.home);
  const p = plan.stmt.PrepareStmt;
  if ((await runQuery(home, `SELECT 1 FROM pg_prepared_statements WHERE name = ${quoteLiteral(p.name)}`)).rows.length) {
    throw new PgError({ severity: 'ERROR', code: '42P05', message: `prepared statement "${p.name}" already exists` });
  }
  // The home node checks the statement over its shells (names, types) and types its parameters, under a name of
  // vecshard's own that it forgets at once.
  const check = `vecshard_check_${++checks}`;
  await runQuery(home, deparse({ PrepareStmt: { ...p, name: check } }));
  let types: string[];
  try {
    const r = await runQuery(home, `SELECT u.t::text FROM pg_prepared_statements, unnest(parameter_types) WITH ORDINALITY AS u(t, i) WHERE name = '${check}' ORDER BY u.i`);
    types = r.rows.map((row) => row[0]!);
  } finally {
    await runQuery(home, `DEALLOCATE ${check}`);
  }
  ctx.sqlPrepared.set(p.name, { query: castParams(p.query, types), types });
  sink.send(be.commandComplete('PREPARE'));
}

async function execute(plan: Extract<SqlPreparePlan, { kind: 'sql-execute' }>, ctx: RunContext, sink: Sink, o: RunOptions): Promise<void> {
  const entry = ctx.sqlPrepared.get(plan.name)!;
  if (plan.args.length !== entry.types.length) {
    throw new PgError({ severity: 'ERROR', code: '42601', message: `wrong number of parameters for prepared statement "${plan.name}"`, detail: `Expected ${entry.types.length} parameters but got ${plan.args.length}.` });
  }
  const values = await argValues(plan.args, entry.types, ctx);
  const params: BoundParams = { values: values.map((v) => (v === null ? null : Buffer.from(v))), formats: values.map(() => 0), types: values.map(() => 0) };
  const raw: RawStmt = { stmt: cloneTree(entry.query) };
  const text = deparse(raw.stmt);
  const inner = await ctx.plan(raw, text, params);
  const opts = { ...o, raw, text, params };
  if (inner.kind === 'passthrough') return runOnHome(inner.sql ?? text, ctx, sink, opts);
  const rest = await runPlan(inner, ctx, sink, opts);
  if (rest !== undefined) await runOnHome(rest, ctx, sink, opts);
}

/**
 * The arguments as text: a string literal as it is (its type's input function reads it, as EXECUTE's coercion
 * would); anything else evaluated on the home node as the parameter's type.
 */
async function argValues(args: Node[], types: string[], ctx: RunContext): Promise<Array<string | null>> {
  const literal = (a: Node) => (a.A_Const?.sval !== undefined || a.A_Const?.isnull ? constText(a)! : undefined);
  if (args.every((a) => literal(a) !== undefined)) return args.map((a) => literal(a)!);
  const exprs = args.map((a, i) => `CAST((${deparse({ SelectStmt: { targetList: [{ ResTarget: { val: a } }], limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } }).replace(/^SELECT /, '')}) AS ${types[i]})::text`);
  const r = await runQuery(await ctx.conn(ctx.home), `SELECT ${exprs.join(', ')}`);
  return r.rows[0];
}

/** Each parameter cast to its type, so the statement types its parameters on the shards as it did at PREPARE. */
function castParams(n: unknown, types: string[], key?: string): Node {
  if (Array.isArray(n)) return n.map((x) => castParams(x, types, key)) as unknown as Node;
  if (!n || typeof n !== 'object') return n as Node;
  const o = n as Node;
  // LIMIT and OFFSET take a parameter as it is (the planner reads its value there).
  if (o.ParamRef && key !== 'limitCount' && key !== 'limitOffset' && types[o.ParamRef.number - 1]) {
    return { TypeCast: { arg: { ParamRef: o.ParamRef }, typeName: typeName(types[o.ParamRef.number - 1]), location: -1 } };
  }
  const out: Node = {};
  for (const k in o) out[k] = castParams(o[k], types, k);
  return out;
}

function typeName(type: string): Node {
  const [r] = parseSql(`SELECT NULL::${type}`) as RawStmt[];
  return r.stmt.SelectStmt.targetList[0].ResTarget.val.TypeCast.typeName;
}
