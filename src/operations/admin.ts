// vecshard's admin functions, called as SELECT vecshard.<name>(...): repair, rebalance, recluster, node
// membership and shard moves. Each returns a count the client gets as its one row.
import path from 'node:path';
import { PgError } from '../errors.ts';
import { parseQualifiedName, quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { RunContext } from '../executor/context.ts';
import { parseNodeUrl } from '../shards/pg-node.ts';
import type { Cluster, NodeSpec } from '../shards/cluster.ts';
import { repairDatabase, rebalance, moveShardPlacement } from './repair.ts';
import { addNode, removeNode } from './membership.ts';
import { recluster } from './recluster.ts';
import { calibrate } from './calibrate.ts';
import type { DistributedTable } from '../metadata/catalog.ts';

export interface AdminCall {
  name: string;
  args: Array<string | null | undefined>;
}

/**
 * What Citus asks too: the admin functions (membership, rebalance, moves, repair, recluster) are for superusers and
 * members of vecshard_admin, as the home node knows the client's role; 42501 otherwise.
 */
async function requireAdmin(name: string, ctx: RunContext): Promise<void> {
  const sql = `SELECT r.rolsuper OR (EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'vecshard_admin') AND pg_has_role(r.oid, 'vecshard_admin', 'MEMBER'))
       FROM pg_roles r WHERE r.rolname = ${quoteLiteral(ctx.user)}`;
  // Not on a connection the session keeps: the function itself needs the home node's connections (an embedded
  // node has one), so one is borrowed for this question and given back.
  const held = ctx.held(ctx.home);
  const pool = ctx.cluster.pool(ctx.home, ctx.database);
  const conn = held ?? (await pool.acquire());
  let r;
  try {
    r = await runQuery(conn, sql);
  } finally {
    if (!held) await pool.release(conn, conn.status === 'I');
  }
  if (r.rows[0]?.[0] !== 't') {
    throw new PgError({ severity: 'ERROR', code: '42501', message: `permission denied for function vecshard.${name}`, hint: `Run it as a superuser, or GRANT vecshard_admin TO ${quoteIdent(ctx.user)} (CREATE ROLE vecshard_admin first) on the nodes.` });
  }
}

/** create_distributed_table and its kin, like ALTER TABLE: for the table's owner (or a member of its role). */
export async function requireOwner(ctx: RunContext, schema: string, name: string, fn: string): Promise<void> {
  const r = await runQuery(
    await ctx.conn(ctx.home),
    `SELECT pg_has_role(r.oid, c.relowner, 'USAGE') FROM pg_class c, pg_roles r
      WHERE c.oid = to_regclass(${quoteLiteral(`${quoteIdent(schema)}.${quoteIdent(name)}`)}) AND r.rolname = ${quoteLiteral(ctx.user)}`,
  );
  if (r.rows.length && r.rows[0][0] !== 't') throw new PgError({ severity: 'ERROR', code: '42501', message: `${fn}: must be owner of table ${name}` });
  if (!r.rows.length && (await runQuery(await ctx.conn(ctx.home), `SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(ctx.user)}`)).rows.length === 0) {
    throw new PgError({ severity: 'ERROR', code: '42501', message: `${fn}: role "${ctx.user}" does not exist on the nodes, so it owns no table` });
  }
}

/**
 * CREATE DATABASE and DROP DATABASE run on every node as vecshard's own user (a database is made on each node),
 * so the client's role is checked first, as Postgres checks it: CREATEDB to create, ownership to drop.
 */
export async function requireDatabaseRight(ctx: RunContext, what: 'create' | 'drop', name: string): Promise<void> {
  const sql =
    what === 'create'
      ? `SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user`
      : `SELECT r.rolsuper OR pg_has_role(d.datdba, 'USAGE') FROM pg_roles r LEFT JOIN pg_database d ON d.datname = ${quoteLiteral(name)} WHERE r.rolname = current_user`;
  const r = await runQuery(await ctx.conn(ctx.home), sql);
  if (r.rows[0]?.[0] === 't') return;
  throw new PgError({ severity: 'ERROR', code: '42501', message: what === 'create' ? 'permission denied to create database' : `must be owner of database ${name}` });
}

export async function runAdmin(call: AdminCall, ctx: RunContext): Promise<number> {
  const { cluster, database, log } = ctx;
  if (call.name === 'calibrate') {
    // For the table's owner, like ANALYZE.
    const table = await namedTable(ctx, call);
    await requireOwner(ctx, table.schema, table.name, 'vecshard.calibrate');
    const n = Number(call.args[1] ?? 100);
    if (!Number.isInteger(n) || n < 1 || n > 10000) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.calibrate(table, queries) takes between 1 and 10000 queries' });
    return calibrate(ctx, table, { queries: n, k: 10 });
  }
  await requireAdmin(call.name, ctx);
  switch (call.name) {
    case 'repair':
      return repairDatabase(cluster, database, log);
    case 'rebalance':
      return rebalance(cluster, database, log);
    case 'recluster':
      return recluster(cluster, database, await namedTable(ctx, call), log);
    case 'add_node': {
      const n = await addNode(cluster, nodeToAdd(cluster, call.args[0]), log);
      cluster.onMembershipChange();
      return n;
    }
    case 'remove_node': {
      const id = Number(call.args[0]);
      if (!Number.isInteger(id)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.remove_node(node_id) takes the node id (see vecshard.nodes)' });
      const n = await removeNode(cluster, id, log);
      cluster.onMembershipChange();
      return n;
    }
    default: {
      const [shard, from, to] = call.args.map(Number);
      if (![shard, from, to].every(Number.isInteger)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.move_shard_placement(shard_id, from_node, to_node) takes three integers' });
      await moveShardPlacement(cluster, database, shard, from, to, log);
      return 0;
    }
  }
}

/** The distributed table an admin function's first argument names. */
async function namedTable(ctx: RunContext, call: AdminCall): Promise<DistributedTable> {
  const rel = call.args[0];
  const q = rel ? parseQualifiedName(rel) : undefined;
  const table = q ? (await ctx.catalog()).get(q.schema ?? 'public', q.name) : undefined;
  if (!table) throw new PgError({ severity: 'ERROR', code: '42P01', message: `vecshard.${call.name}: "${rel ?? ''}" is not a distributed table` });
  return table;
}

/** The node vecshard.add_node(url) names: a PostgreSQL server, or (no argument) one more embedded node. */
function nodeToAdd(cluster: Cluster, url: string | null | undefined): NodeSpec {
  const first = cluster.nodes[0];
  if (first.kind === 'pglite') {
    if (url) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard.add_node: embedded nodes cannot be mixed with PostgreSQL servers; call vecshard.add_node() without an argument' });
    return { kind: 'pglite', dataDir: path.join(path.dirname(first.dataDir), `node-${cluster.nodes.length}`) };
  }
  if (!url) throw new PgError({ severity: 'ERROR', code: '22023', message: "vecshard.add_node('postgres://user:password@host:5432') takes the new node's connection string" });
  try {
    return { kind: 'postgres', ...parseNodeUrl(url), url, poolSize: first.poolSize };
  } catch (e) {
    throw new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.add_node: ${(e as Error).message}` });
  }
}
