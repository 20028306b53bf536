// The routed lane of the simple protocol: a Query whose text, its literals masked (sql/literals.ts), was planned
// before as a read of one shard picked by one of its literals (pgbench -M simple; applications that inline their
// values) is not parsed or planned again. The literal picks the shard, the shard statement learnt then gets the new
// literals and that shard's name, and a node holding the shard answers it as it is: one round trip.
// Learnt only from plans that are exactly that: one task on a hash-distributed table, rows that need no merge, the
// shard statement holding the client's literals in the same order, and exactly one literal whose value picks the
// shard the plan chose (a one-shard table: the only one).
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { lexLiterals, type Lexed } from '../sql/literals.ts';
import { quoteIdent } from '../sql/quote.ts';
import { shardIndexFor } from '../metadata/route.ts';
import { SHARD_SCHEMA, type Catalog, type DistributedTable } from '../metadata/catalog.ts';
import type { DistributedPlan } from '../planner/types.ts';
import { placeReads } from '../executor/placement.ts';
import { streamable } from '../executor/portal-stream.ts';
import { shardGeneration } from '../executor/shard-tasks.ts';
import { ShardError } from '../errors.ts';
import type { ClientSession } from './session.ts';
import { onShard } from './routed-lane.ts';

interface TextRoute {
  table: DistributedTable;
  catalog: Catalog;
  /** The literal whose value picks the shard. */
  key: number;
  /** The shard statement around its slots; each slot is a literal's index, or -1 for the shard's name. */
  pieces: string[];
  slots: number[];
}

const routes = new Map<string, TextRoute>();
const MAX_ROUTES = 2000;
/** Text kept in all (keys and shard statements): shapes of texts up to 64 kB are learnt, 2,000 of them would be 256 MB. */
const MAX_ROUTE_BYTES = 8 * 1024 * 1024;
let routeBytes = 0;
const sizeOf = (key: string, r: TextRoute) => key.length + r.pieces.reduce((n, p) => n + p.length, 0);

function remember(key: string, route: TextRoute): void {
  const old = routes.get(key);
  if (old) {
    routeBytes -= sizeOf(key, old);
    routes.delete(key);
  }
  routeBytes += sizeOf(key, route);
  routes.set(key, route);
  // The oldest go first; the one just learnt stays even when it alone is over the budget (it is at most 64 kB twice).
  for (const [k, r] of routes) {
    if (routes.size <= MAX_ROUTES && routeBytes <= MAX_ROUTE_BYTES) break;
    if (k === key) break;
    routeBytes -= sizeOf(k, r);
    routes.delete(k);
  }
}

/** What the learnt routes hold, for tests. */
export function routeMemory(): { routes: number; bytes: number } {
  return { routes: routes.size, bytes: routeBytes };
}

function keyOf(cs: ClientSession, shape: string): string {
  const s = cs.s;
  return `${s.database}\0${s.login.role}\0${s.settingsKey}\0${shardGeneration()}\0${shape}`;
}

/** Whether the session may take the lane: outside a transaction, nothing pinned or pending. */
function open(cs: ClientSession): boolean {
  const s = cs.s;
  return s.status === 'I' && !s.distributedTx && !s.pinned && !cs.copy.active && !cs.extended.out.length && !cs.extended.entries.length;
}

/** Learns `sql`'s route from its plan when the plan is a read of one shard picked by one literal. */
export function learnTextRoute(cs: ClientSession, sql: string, plan: DistributedPlan, catalog: Catalog): void {
  const task = plan.tasks[0];
  if (!open(cs) || plan.tasks.length !== 1 || plan.write || !streamable(plan) || plan.table.method !== 'hash' || task.before?.length || task.params.values.length) return;
  const client = lexLiterals(sql);
  const shard = client?.literals.length ? lexLiterals(task.sql) : undefined;
  if (!client || !shard || shard.literals.length !== client.literals.length || shard.literals.some((l, i) => l.raw !== client.literals[i].raw)) return;
  const picks = client.literals.flatMap((l, i) => (picksShard(plan.table, l.value, task.shardIndex) ? [i] : []));
  if (picks.length !== 1) return;
  const template = withShardSlot(shard, `${SHARD_SCHEMA}.${quoteIdent(task.shard)}`);
  if (!template) return;
  remember(keyOf(cs, client.shape), { table: plan.table, catalog, key: picks[0], ...template });
}

function picksShard(table: DistributedTable, value: string, index: number): boolean {
  try {
    return shardIndexFor(table, value) === index;
  } catch {
    return false;
  }
}

/** The shard statement's pieces with one more slot (-1) where the shard's name is; undefined unless it is there once. */
function withShardSlot(shard: Lexed, name: string): { pieces: string[]; slots: number[] } | undefined {
  const pieces: string[] = [];
  const slots: number[] = [];
  let found = 0;
  shard.pieces.forEach((piece, i) => {
    const parts = piece.split(new RegExp(`${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![A-Za-z0-9_$])`));
    found += parts.length - 1;
    parts.forEach((p, j) => {
      pieces.push(p);
      if (j < parts.length - 1) slots.push(-1);
    });
    if (i < shard.literals.length) slots.push(i);
  });
  return found === 1 ? { pieces, slots } : undefined;
}

/** Undefined when `sql` has no learnt route; the promise gives false when the general path must run it. */
export function textRouted(cs: ClientSession, sql: string): Promise<boolean> | undefined {
  if (!routes.size || !open(cs)) return undefined;
  const lexed = lexLiterals(sql);
  const route = lexed && routes.get(keyOf(cs, lexed.shape));
  return route && lookup(cs, route, lexed);
}

async function lookup(cs: ClientSession, route: TextRoute, lexed: Lexed): Promise<boolean> {
  const s = cs.s;
  if ((await s.catalog()) !== route.catalog) return false; // planned again, and learnt again
  const t0 = performance.now();
  let task;
  try {
    const index = shardIndexFor(route.table, lexed.literals[route.key].value);
    const shard = route.table.shards[index];
    const name = `${SHARD_SCHEMA}.${quoteIdent(shard.name)}`;
    const sql = route.pieces.map((p, i) => p + (i < route.slots.length ? (route.slots[i] < 0 ? name : lexed.literals[route.slots[i]].raw) : '')).join('');
    [task] = placeReads([{ nodeId: shard.nodes[0], shard: shard.name, shardIndex: index, sql, params: { values: [], formats: [], types: [] } }], route.table, s.cluster, s.nextTurn());
  } catch {
    return false; // a value that does not route, or no copy up: the general path reports it
  }
  return onShard(cs, task, t0, async (conn, seen) => {
    conn.backend.unnamedOwner = undefined; // a Query drops the connection's unnamed statement
    conn.write(fe.query(task.sql));
    const status = await conn.readUntilReady((f) => {
      if (f[0] === 0x5a) return;
      if (f[0] === 0x45) f = be.errorResponse(new ShardError(be.readErrorFields(f), task).fields);
      seen.answered = true;
      cs.ctx.send(f);
      cs.throttle(conn);
    });
    s.status = status;
    cs.ctx.send(be.readyForQuery(status));
  });
}
