// INSERT into a distributed table: each VALUES row goes to the shard its distribution value hashes to. Sequence
// defaults (serial, identity) are evaluated once on node 0 so ids are unique across shards.
import { deparse, type Node } from '../sql/ast.ts';
import type { DistributedTable, Shard } from '../metadata/catalog.ts';
import { RadiusTracker, nearestShard, vectorOf } from '../metadata/route.ts';
import { subsetParams, type BoundParams } from './params.ts';
import { shardForValue, valueText, vectorValue } from './router.ts';
import { formatVector } from '../index/vector.ts';
import { toShard } from './relations.ts';
import { type DistributedPlan, type ErrorPlan, type ShardTask } from './types.ts';
import { notSupported } from '../errors.ts';

/** Evaluates a default expression `n` times on node 0, returning the values as text. */
export type DefaultEvaluator = (expr: string, n: number) => Promise<Array<string | null>>;

const textConst = (v: string | null): Node => (v === null ? { A_Const: { isnull: true } } : { A_Const: { sval: { sval: v } } });

export async function planInsert(stmt: Node, table: DistributedTable, params: BoundParams, evalDefault: DefaultEvaluator): Promise<DistributedPlan | ErrorPlan> {
  const values: Node[][] | undefined = stmt.selectStmt?.SelectStmt?.valuesLists?.map((l: Node) => l.List.items);
  if (!values) return notSupported(stmt.selectStmt ? 'INSERT ... SELECT' : 'INSERT ... DEFAULT VALUES without a distribution value');
  if (stmt.withClause) return notSupported('WITH in INSERT');
  const conflictSet: Node[] = stmt.onConflictClause?.targetList ?? [];
  if (conflictSet.some((t) => t.ResTarget?.name === table.distColumn)) {
    return notSupported(`ON CONFLICT DO UPDATE of the distribution column "${table.distColumn}"`);
  }

  const cols: string[] = stmt.cols ? stmt.cols.map((c: Node) => c.ResTarget.name) : table.columns.map((c) => c.name);
  const rows = values.map((r) => [...r]);
  // Columns whose defaults the coordinator must evaluate: sequences, and the distribution column's own default.
  for (const col of table.columns) {
    const coordinatorDefault = col.sequenceDefault ?? (col.name === table.distColumn ? col.default : null);
    if (!coordinatorDefault) continue;
    let idx = cols.indexOf(col.name);
    const positional = idx < 0 || idx >= (rows[0]?.length ?? 0);
    if (idx < 0) {
      cols.push(col.name);
      idx = cols.length - 1;
    }
    const need = rows.filter((r) => positional || r[idx]?.SetToDefault);
    if (!need.length) continue;
    const got = await evalDefault(coordinatorDefault, need.length);
    need.forEach((r, i) => {
      while (r.length < idx) r.push({ SetToDefault: {} });
      r[idx] = textConst(got[i]);
    });
  }

  const distIdx = table.distColumn ? cols.indexOf(table.distColumn) : -1;
  const radii = new RadiusTracker(table);
  const byShard = new Map<number, { rows: Node[][]; order: number[] }>();
  for (let i = 0; i < rows.length; i++) {
    if (table.method === 'reference') {
      const g = byShard.get(0) ?? { rows: [], order: [] };
      g.rows.push(rows[i]);
      g.order.push(i);
      byShard.set(0, g);
      continue;
    }
    const v = distIdx < 0 ? null : table.method === 'clustered' ? vectorText(rows[i][distIdx], params) : valueText(rows[i][distIdx], params);
    if (v === undefined) return notSupported(`an expression as the value of distribution column "${table.distColumn}" (use a constant or a parameter)`);
    if (v === null) {
      return { kind: 'error', error: { severity: 'ERROR', code: '23502', message: `vecshard: the distribution column "${table.distColumn}" of "${table.name}" cannot be NULL`, column: table.distColumn!, table: table.name } };
    }
    let shard: Shard;
    if (table.method === 'clustered') {
      const vec = vectorOf(table, v);
      shard = table.shards[nearestShard(table, vec)];
      radii.add(shard.index, vec);
    } else shard = shardForValue(table, v);
    const g = byShard.get(shard.index) ?? { rows: [], order: [] };
    g.rows.push(rows[i]);
    g.order.push(i);
    byShard.set(shard.index, g);
  }

  const tasks: ShardTask[] = [];
  for (const [index, g] of [...byShard].sort((a, b) => a[0] - b[0])) {
    const shard = table.shards[index];
    const one = {
      InsertStmt: {
        ...stmt,
        cols: cols.map((name) => ({ ResTarget: { name } })),
        selectStmt: { SelectStmt: { valuesLists: g.rows.map((items) => ({ List: { items } })), limitOption: 'LIMIT_OPTION_DEFAULT', op: 'SETOP_NONE' } },
      },
    };
    const s = toShard(one, table, shard.name);
    const p = subsetParams(s, params);
    tasks.push({ nodeId: shard.nodes[0], shard: shard.name, shardIndex: index, sql: deparse(s), params: p, rowOrder: g.order });
  }
  return {
    kind: 'distributed',
    table,
    command: 'INSERT',
    tasks,
    merge: stmt.returningList || stmt.returningClause ? { kind: 'insert-order' } : { kind: 'concat', limit: Infinity, offset: 0 },
    hidden: 0,
    write: true,
    strategy: `insert: ${rows.length} row(s) routed to ${tasks.length} shard(s) by ${table.distColumn}${table.method === 'clustered' ? ' (nearest centroid)' : ''}`,
    growRadii: radii.sql(),
  };
}

/** A clustered row's vector as text (parameters may come in pgvector's binary form). */
function vectorText(n: Node, params: BoundParams): string | null | undefined {
  const v = vectorValue(n, params);
  if (v === undefined) return valueText(n, params) ?? undefined;
  return v === null ? null : formatVector(v);
}
