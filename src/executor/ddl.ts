// DDL on distributed tables: the statement on the shell (every node has one) and on every shard copy, with the
// catalog rows it changes, all in one transaction when the statement allows one.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { DdlPlan, ShardTask } from '../planner/types.ts';
import { planDropIndex } from '../planner/ddl.ts';
import { PgError } from '../errors.ts';
import { ANNOUNCE, BUMP_VERSION, type DistributedTable } from '../metadata/catalog.ts';
import { requireAllNodes } from '../metadata/catalog-copies.ts';
import { runQuery } from '../shards/internal-query.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import type { Node } from '../sql/ast.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';
import { runTasks, shardStatementsStale } from './shard-tasks.ts';
import { withOwnTransaction } from './transaction.ts';

export async function runDdl(plan: DdlPlan, text: string, ctx: RunContext, sink: Sink): Promise<void> {
  // Shard statements prepared on node connections before (or while) the tables change are not used again.
  shardStatementsStale();
  try {
    await changeEverywhere(plan, text, ctx, sink);
  } finally {
    shardStatementsStale();
  }
}

async function changeEverywhere(plan: DdlPlan, text: string, ctx: RunContext, sink: Sink): Promise<void> {
  const { cluster, database } = ctx;
  requireAllNodes(cluster, database, 'changing a distributed table');
  const home = await ctx.conn(ctx.home);
  // The shell and the catalog rows are on every node; the home node's answer is the one the client sees.
  const everywhere = cluster.members();
  const nodes = [...new Set([...everywhere, ...plan.tasks.map((t) => t.nodeId)])];
  let tag = '';
  // Changes to catalog rows bump every copy's version; all copies change together (every node takes part).
  const catalog = plan.catalog.length ? [...plan.catalog, BUMP_VERSION] : [];
  const sql = plan.transactional ? [plan.shell, ...catalog].join(';\n') : plan.shell;
  const change = async () => {
    // Other coordinators drop what they know of the tables when this commits (the home node's part announces it).
    home.write(fe.query(plan.transactional ? `${sql};\n${ANNOUNCE}` : sql));
    let error: be.PgErrorFields | undefined;
    const notices: Buffer[] = [];
    await home.readUntilReady((f) => {
      if (f[0] === 0x45) error ??= be.readErrorFields(f);
      if (f[0] === 0x43 && !tag) tag = be.readCommandTag(f);
      if (f[0] === 0x4e) notices.push(f);
    });
    for (const n of notices) sink.send(n);
    if (error) throw new PgError(error);
    const there = plan.elsewhere === undefined ? sql : [plan.elsewhere, ...(plan.transactional ? catalog : [])].join(';\n');
    for (const n of everywhere) {
      if (n === home.nodeId) continue;
      await runQuery(await ctx.conn(n), there);
    }
    if (!plan.transactional && catalog.length) {
      for (const n of everywhere) await runQuery(await ctx.conn(n), catalog.join(';\n'));
    }
    if (plan.transactional) await runTasks(ctx.conn, plan.tasks, [], false, () => {}, ctx.roundTrip);
    else await oneByOne(plan.tasks, ctx);
  };
  // In the client's transaction (or where none may be used) the statements simply run in turn.
  if (!plan.transactional || ctx.inTransaction) await change();
  else await withOwnTransaction(home, await Promise.all(nodes.map(ctx.conn)), change);
  if (!plan.transactional) await runQuery(home, ANNOUNCE);
  await ctx.catalogChanged();
  sink.send(be.commandComplete(tag || text.trim().split(/\s+/).slice(0, 2).join(' ').toUpperCase()));
}

/**
 * VACUUM, CREATE INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY cannot run in a pipeline: each shard's statement goes
 * in a round trip of its own, nodes in parallel.
 */
async function oneByOne(tasks: ShardTask[], ctx: RunContext): Promise<void> {
  const byNode = new Map<number, ShardTask[]>();
  for (const t of tasks) byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t]);
  await Promise.all([...byNode.values()].map(async (list) => {
    for (const t of list) await runTasks(ctx.conn, [t], [], false, () => {}, ctx.roundTrip);
  }));
}

/**
 * DROP INDEX while distributed tables exist: on every shard too when the index is on a distributed table. Returns
 * false when none of the indexes is: the statement then runs on the home node as it is.
 */
export async function runDropIndex(stmt: Node, text: string, indexes: Array<{ schema: string | undefined; name: string }>, ctx: RunContext, sink: Sink): Promise<boolean> {
  const catalog = await ctx.catalog();
  const home = await ctx.conn(ctx.home);
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
  if (!targets.length) return false;
  if (local) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard: DROP INDEX of indexes on distributed and other tables in one statement is not supported yet', hint: 'Drop them in separate statements.' });
  await runDdl(planDropIndex(stmt, text, targets), text, ctx, sink);
  return true;
}
