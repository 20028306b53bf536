// The routed lane: a batch that binds a described distributed SELECT whose shard one parameter picks, and runs it
// (pgbench -M prepared, node-postgres's parameterized lookups: Bind, maybe Describe, Execute, Sync), goes straight
// to a node holding that shard — the client's own parameters bound to the shard statement, in one write — and the
// node's answer comes back as it is. No plan, no merge: one round trip. Anything else takes the general path.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { readBind, paramText } from '../planner/params.ts';
import { shardIndexFor } from '../metadata/route.ts';
import { placeReads, underWay } from '../executor/placement.ts';
import { prepareTask } from '../executor/shard-tasks.ts';
import { paramTypes, portalRow, usable, type Described } from '../session/described.ts';
import { isLost, ShardError } from '../errors.ts';
import type { ClientSession } from './session.ts';
import type { ShardTask } from '../planner/types.ts';
import type { NodeConnection } from '../shards/node-connection.ts';

/** Undefined when the batch is not one routed lookup; the promise gives false when the general path must run it. */
export function routed(cs: ClientSession, frames: Buffer[]): Promise<boolean> | undefined {
  const n = frames.length;
  if ((n !== 3 && n !== 4) || frames[0][0] !== 0x42 || frames[n - 2][0] !== 0x45 || frames[n - 1][0] !== 0x53) return undefined;
  const describe = n === 4;
  if (describe && (frames[1][0] !== 0x44 || frames[1][5] !== 0x50 || frames[1][6] !== 0)) return undefined; // Describe of the unnamed portal
  const x = cs.extended;
  const s = cs.s;
  if (cs.copy.active || x.out.length || x.entries.length || x.failed || s.status !== 'I' || s.distributedTx || s.portals.size || s.pinned) return undefined;
  // The statement first, read in place: most batches here bind an ordinary table's statement (no route).
  const b = frames[0];
  const end = b[5] === 0 ? b.indexOf(0, 6) : -1; // the unnamed portal, then the statement's name
  const st = end < 0 ? undefined : s.statements.get(b.toString('utf8', 6, end));
  if (!st?.described?.route) return undefined;
  const h = fe.readBindHead(b);
  const ex = fe.readExecute(frames[n - 2]);
  if (ex.portal !== '' || ex.maxRows !== 0 || !usable(st.described)) return undefined;
  return lookup(cs, st.described, st.paramTypes, h.rest, describe);
}

async function lookup(cs: ClientSession, d: Described, types: number[], rest: Buffer, describe: boolean): Promise<boolean> {
  const s = cs.s;
  const route = d.route!;
  if ((await s.catalog()) !== route.catalog) return false; // the plan is made again, and the route with it
  const t0 = performance.now();
  const { params, resultFormats } = readBind(rest, paramTypes(types, d));
  if (params.values.length !== d.params.length) return false; // the general path says what is wrong
  const value = paramText(params, route.param);
  let task;
  try {
    if (value === null) return false;
    const index = shardIndexFor(route.table, value);
    task = route.byShard.get(index);
    if (!task) {
      task = route.task(index, params);
      // The client's parameters go as they are only when the shard statement takes them in the same order.
      if (task.params.values.length !== params.values.length || task.params.values.some((v, i) => v !== params.values[i])) return false;
      route.byShard.set(index, task);
    }
    [task] = placeReads([task], route.table, s.cluster, s.nextTurn());
  } catch {
    return false; // a value that does not route, or no copy up: the general path reports it
  }
  return onShard(cs, task, t0, async (conn, seen) => {
    const out: Buffer[] = [];
    const { name, parsed } = prepareTask(conn, task, out);
    out.push(fe.bind({ portal: '', statement: name ?? '', rest }), fe.execute(''), fe.sync());
    conn.backend.unnamedOwner = undefined;
    conn.write(Buffer.concat(out));
    let refused = false;
    await conn.readUntilReady((f) => {
      switch (f[0]) {
        case 0x31: // our Parse
        case 0x33: // our Close
          return;
        case 0x45:
          refused ||= parsed && !seen.answered;
          f = be.errorResponse(new ShardError(be.readErrorFields(f), task).fields);
          break;
        case 0x32:
          seen.answered = true;
          cs.ctx.send(f);
          if (describe) cs.ctx.send(portalRow(d, resultFormats));
          return;
      }
      seen.answered = true;
      cs.ctx.send(f);
      cs.throttle(conn);
    });
    if (refused && name !== undefined) conn.backend.taskStatements.delete(name);
  });
}

/**
 * A lane's exchange with the node holding `task`'s shard (counted as work under way there). False when the node was
 * lost before anything reached the client: the general path then runs it again, on another copy.
 */
export async function onShard(cs: ClientSession, task: ShardTask, t0: number, exchange: (conn: NodeConnection, seen: { answered: boolean }) => Promise<void>): Promise<boolean> {
  const s = cs.s;
  const seen = { answered: false };
  const done = underWay(s.cluster, [task]);
  try {
    await exchange(await s.acquire(task.nodeId), seen);
    s.cluster.metrics.statement('router', performance.now() - t0);
    await cs.afterReady();
  } catch (e) {
    if (!seen.answered && isLost(e)) {
      s.cluster.markDown(task.nodeId);
      await s.dropConn(task.nodeId);
      return false;
    }
    await cs.fail(e);
  } finally {
    done();
  }
  return true;
}
