// A distributed portal read in parts (Execute with a row limit: pg-cursor, JDBC's fetch size) whose rows need no
// merging: each shard's rows are fetched from a portal on its node as the client asks for them, so the coordinator
// holds one batch, not the whole result. Shards are read one after another, on connections of their own taken from
// the pools (the session's are left to the client's other statements), inside each node's implicit transaction
// until the portal is closed.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { DistributedPlan } from '../planner/types.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import type { NodePool } from '../shards/pool.ts';
import { runQuery } from '../shards/internal-query.ts';
import { PgError } from '../errors.ts';
import { placeReads } from './placement.ts';
import { bindFor } from './shard-tasks.ts';
import { mergeable, SortedMerger } from './sorted-merge.ts';
import type { StatementPlan } from '../planner/statement.ts';
import type { SortedMerge } from '../planner/sort.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { RunContext } from './context.ts';

/** Whether a plan's rows can go out shard by shard as they come (no merge, no hidden column, a read). */
export function streamable(plan: DistributedPlan): boolean {
  return !plan.write && !plan.prune && plan.hidden === 0 && plan.merge.kind === 'concat' && plan.merge.limit === Infinity && plan.merge.offset === 0;
}

/** A client portal read in parts straight from the shards. */
export interface PortalReader {
  /** Sends up to `maxRows` rows (all when 0); true when done (CommandComplete sent), false when PortalSuspended was. */
  fetch(maxRows: number, send: (f: Buffer) => void): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * The reader for a portal the client reads in parts, when the plan allows one: rows that need no merge, or an ORDER
 * BY the coordinator merges. Only on PostgreSQL nodes: an embedded node has one connection, which the portal would
 * hold between the client's Executes.
 */
export async function portalReader(plan: StatementPlan, ctx: RunContext, resultFormats: number[]): Promise<PortalReader | undefined> {
  if ((plan.kind !== 'distributed' || !streamable(plan)) && (plan.kind !== 'aggregate' || !plan.sorted)) return undefined;
  if (!plan.table.shards.every((sh) => sh.nodes.every((n) => ctx.cluster.nodes[n].kind === 'postgres'))) return undefined;
  if (plan.kind === 'distributed') return PortalStream.start(plan, ctx, resultFormats);
  return SortedPortal.start(plan.sorted!, plan.table, ctx, resultFormats);
}

/** Connections taken from the pools (not the session's), one per node, given back (transaction ended) at release. */
export class Held {
  readonly list: Array<{ conn: NodeConnection; pool: NodePool }> = [];
  constructor(readonly ctx: RunContext) {}

  async conn(nodeId: number): Promise<NodeConnection> {
    let held = this.list.find((h) => h.conn.nodeId === nodeId);
    if (!held) {
      const pool = this.ctx.cluster.pool(nodeId, this.ctx.database, this.ctx.login);
      held = { conn: await pool.acquire(this.ctx.login.role), pool };
      this.list.push(held);
    }
    return held.conn;
  }

  async release(): Promise<void> {
    for (const { conn, pool } of this.list.splice(0)) {
      try {
        if (!conn.broken && conn.status !== 'I') await runQuery(conn, 'ROLLBACK');
        await pool.release(conn, !conn.broken);
      } catch {
        await pool.release(conn, false);
      }
    }
  }
}

/** An ORDER BY portal: the coordinator's merge (sorted-merge.ts) over shard portals on connections of its own. */
class SortedPortal implements PortalReader {
  #closed = false;
  private constructor(
    readonly merger: SortedMerger,
    readonly held: Held,
  ) {}

  static async start(merge: SortedMerge, table: DistributedTable, ctx: RunContext, resultFormats: number[]): Promise<SortedPortal | undefined> {
    const held = new Held(ctx);
    try {
      const placed = placeReads(merge.tasks, table, ctx.cluster, ctx.nextTurn());
      const how = await mergeable(merge, resultFormats, await held.conn(placed[0].nodeId));
      if (!how) {
        await held.release();
        return undefined;
      }
      const merger = new SortedMerger(merge, how.cmps, how.formats, () => {});
      const portal = new SortedPortal(merger, held);
      await merger.open(placed, (n) => held.conn(n)).catch(async (e: unknown) => {
        await portal.close();
        throw e;
      });
      return portal;
    } catch (e) {
      await held.release();
      throw e;
    }
  }

  async fetch(maxRows: number, send: (f: Buffer) => void): Promise<boolean> {
    if (this.#closed) throw new PgError({ severity: 'ERROR', code: '34000', message: 'portal is closed' });
    try {
      await this.merger.next(maxRows > 0 ? maxRows : Infinity, send);
    } catch (e) {
      await this.close();
      throw e;
    }
    if (this.merger.more) {
      send(be.portalSuspended());
      return false;
    }
    send(be.commandComplete(`SELECT ${this.merger.sent}`));
    await this.close();
    return true;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.merger.close();
    await this.held.release();
  }
}

export class PortalStream implements PortalReader {
  #next = 0;
  #open: NodeConnection | undefined;
  #held: Held;
  #rows = 0;
  #closed = false;

  private constructor(
    readonly plan: DistributedPlan,
    readonly ctx: RunContext,
    readonly resultFormats: number[],
    readonly tasks: DistributedPlan['tasks'],
  ) {
    this.#held = new Held(ctx);
  }

  static start(plan: DistributedPlan, ctx: RunContext, resultFormats: number[]): PortalStream {
    return new PortalStream(plan, ctx, resultFormats, placeReads(plan.tasks, plan.table, ctx.cluster, ctx.nextTurn()));
  }

  /**
   * Sends up to `maxRows` rows (all when 0) with `send`; returns true when the portal is done (its CommandComplete
   * sent), false when rows remain (PortalSuspended sent).
   */
  async fetch(maxRows: number, send: (f: Buffer) => void): Promise<boolean> {
    if (this.#closed) throw new PgError({ severity: 'ERROR', code: '34000', message: 'portal is closed' });
    let want = maxRows > 0 ? maxRows : Infinity;
    while (want > 0) {
      if (!this.#open) {
        if (this.#next >= this.tasks.length) break;
        await this.#bind(this.tasks[this.#next++]);
      }
      const conn = this.#open!;
      const n = Number.isFinite(want) ? want : 0;
      conn.write(Buffer.concat([fe.execute('', n), fe.flush()]));
      const done = await this.#read(conn, (f) => {
        send(f);
        this.#rows++;
        want--;
      });
      if (done) this.#open = undefined;
    }
    if (this.#open || this.#next < this.tasks.length) {
      send(be.portalSuspended());
      return false;
    }
    send(be.commandComplete(`SELECT ${this.#rows}`));
    await this.close();
    return true;
  }

  /** Opens the next shard's portal: the shard SELECT parsed and bound, unnamed, on a connection of the stream's. */
  async #bind(task: DistributedPlan['tasks'][number]): Promise<void> {
    // Its snapshot holds from here to the end: the node's implicit transaction stays open (no Sync) until close.
    const conn = await this.#held.conn(task.nodeId);
    conn.backend.unnamedOwner = undefined;
    conn.write(Buffer.concat([fe.parse({ name: '', sql: task.sql, paramTypes: task.params.types }), bindFor(task, this.resultFormats), fe.flush()]));
    let answered = 0;
    await this.#until(conn, (f) => {
      if (f[0] === 0x31 || f[0] === 0x32) answered++;
      return answered === 2;
    });
    this.#open = conn;
  }

  /** Reads one Execute's answer; true when the shard's portal is done (CommandComplete), false when suspended. */
  async #read(conn: NodeConnection, row: (f: Buffer) => void): Promise<boolean> {
    let done = false;
    await this.#until(conn, (f) => {
      if (f[0] === 0x44) row(f);
      else if (f[0] === 0x73) return true; // PortalSuspended
      else if (f[0] === 0x43) return (done = true);
      return false;
    });
    return done;
  }

  /** Reads frames until `last` says so; a node error ends the stream and becomes the client's. */
  async #until(conn: NodeConnection, last: (f: Buffer) => boolean): Promise<void> {
    for (;;) {
      const f = await conn.read();
      if (f[0] === 0x45) {
        const fields = be.readErrorFields(f);
        await this.close();
        throw new PgError(fields);
      }
      if (f[0] === 0x4e || f[0] === 0x53) continue; // notices, parameter status
      if (last(f)) return;
    }
  }

  /** Ends every node's implicit transaction (Sync) and gives the connections back. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = undefined;
    await Promise.all(
      this.#held.list.map(async ({ conn }) => {
        if (conn.broken) return;
        conn.write(fe.sync());
        await conn.readUntilReady(() => {}).catch(() => {});
      }),
    );
    await this.#held.release();
  }
}
