// vecshard.nodes and vecshard.tasks: tables no node has, answered by the coordinator from what it knows.
import { cloneTree, deparse, walk, type Node } from '../sql/ast.ts';
import { parseSql, type RawStmt } from '../sql/parse.ts';
import { quoteLiteral } from '../sql/quote.ts';
import type { StatementContext } from './statement.ts';

const VIRTUAL_TABLES = ['nodes', 'tasks'];

/** The rows of a virtual table as a subquery (typed even when empty). */
function virtualSource(name: string, ctx: Pick<StatementContext, 'nodes' | 'tasks'>): string {
  const q = (v: string | null | undefined) => (v == null ? 'NULL' : quoteLiteral(v));
  if (name === 'nodes') {
    const rows = ctx.nodes.map((n) => `(${n.id}, ${q(n.kind)}, ${q(n.host)}, ${n.port ?? 'NULL'}, ${q(n.health)})`);
    return `SELECT * FROM (VALUES (NULL::int, NULL::text, NULL::text, NULL::int, NULL::text)${rows.map((r) => ', ' + r).join('')}) AS v (node_id, kind, host, port, health) WHERE node_id IS NOT NULL`;
  }
  const rows = ctx.tasks.map(
    (t) =>
      `(${t.id}, ${q(t.kind)}, ${q(t.database)}, ${t.shardId}, ${q(t.shard)}, ${t.source}, ${t.target}, ${t.rowsDone}, ${t.rowsTotal}, ${q(t.state)}, ${q(t.startedAt.toISOString())}, ${q(t.finishedAt?.toISOString())}, ${q(t.error)})`,
  );
  return `SELECT * FROM (VALUES (NULL::int, NULL::text, NULL::text, NULL::bigint, NULL::text, NULL::int, NULL::int, NULL::bigint, NULL::bigint, NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::text)${rows.map((r) => ', ' + r).join('')}) AS v (task_id, kind, database, shard_id, shard, source_node, target_node, rows_done, rows_total, state, started_at, finished_at, error) WHERE task_id IS NOT NULL`;
}

/**
 * vecshard.nodes and vecshard.tasks are answered by the coordinator: the statement is rewritten with their rows
 * as a subquery (so any SELECT over them works) and runs on the home node. Returns the new SQL, or undefined.
 */
export function withVirtualTables(stmt: Node, ctx: Pick<StatementContext, 'nodes' | 'tasks'>): string | undefined {
  const isVirtual = (rv: Node | undefined) => rv?.schemaname === 'vecshard' && VIRTUAL_TABLES.includes(rv.relname);
  let named = false;
  walk(stmt, (n) => {
    if (isVirtual(n.RangeVar)) named = true;
  });
  if (!named) return undefined;
  let found = false;
  const copy = cloneTree(stmt);
  walk(copy, (n) => {
    const list = (n.fromClause ?? []) as Node[];
    list.forEach((item, i) => {
      const rv = item.RangeVar;
      if (!isVirtual(rv)) return;
      const parsed = parseSql(`SELECT * FROM (${virtualSource(rv.relname, ctx)}) AS ${rv.relname}`);
      if (parsed instanceof Error) return;
      found = true;
      const sub = parsed[0].stmt.SelectStmt.fromClause[0];
      if (rv.alias) sub.RangeSubselect.alias.aliasname = rv.alias.aliasname;
      list[i] = sub;
    });
  });
  return found ? deparse(copy) : undefined;
}

/**
 * A statement that names a virtual table, and its shape: the statement with the tables empty but typed, which a
 * node parses and describes for a client's Parse (the rows are filled in when it runs).
 */
export function virtualStatement(sql: string): { raw: RawStmt; shape: string } | undefined {
  if (!/vecshard\./i.test(sql)) return undefined;
  const parsed = parseSql(sql);
  const raw = parsed instanceof Error || parsed.length !== 1 ? undefined : parsed[0];
  const shape = raw && withVirtualTables(raw.stmt, { nodes: [], tasks: [] });
  return shape ? { raw: raw!, shape } : undefined;
}
