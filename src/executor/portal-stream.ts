// A distributed portal read in parts (Execute with a row limit: pg-cursor, JDBC's fetch size) whose rows need no
// merging, or that the coordinator merges in order: each shard's rows are fetched from a portal on its node as the
// client asks for them, so the coordinator holds one batch per shard, not the whole result.
// Outside a transaction block the shard portals live on connections of their own taken from the pools (the
// session's are left to the client's other statements), inside each node's implicit transaction until the portal is
// closed. Inside one they live on the session's connections, in the client's transaction (its snapshot, its own
// uncommitted rows), as named portals that outlast Sync; every part ends with Sync, so the client's other
// statements can use those connections between its Executes, and the node drops the portals at COMMIT or ROLLBACK.
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
 * BY the coordinator merges. Outside a transaction block only on PostgreSQL nodes: an embedded node has one
 * connection, which the portal would hold between the client's Executes (inside one the session holds it anyway).
 */
export async function portalReader(plan: StatementPlan, ctx: RunContext, resultFormats: number[]): Promise<PortalReader | undefined> {
  if ((plan.kind !== 'distributed' || !streamable(plan)) && (plan.kind !== 'aggregate' || !plan.sorted)) return undefined;
  const link = ctx.inTransaction ? new InTransaction(ctx) : new Held(ctx);
  if (!ctx.inTransaction && !plan.table.shards.every((sh) => sh.nodes.every((n) => ctx.cluster.nodes[n].kind === 'postgres'))) return undefined;
  if (plan.kind === 'distributed') return PortalStream.start(plan, ctx, resultFormats, link);
  return SortedPortal.start(plan.sorted!, plan.table, ctx, resultFormats, link);
}

/** Where a portal's shard portals live, and how each exchange with a node ends. */
interface Link {
  /** Inside the client's transaction: parts end with Sync, portals are named and end with it. */
  readonly inTx: boolean;
  conn(nodeId: number): Promise<NodeConnection>;
  release(): Promise<void>;
}

/** The session's own connections, in the client's transaction (the session gives them back when it ends). */
class InTransaction implements Link {
  readonly inTx = true;
  constructor(readonly ctx: RunContext) {}
  conn(nodeId: number): Promise<NodeConnection> {
    return this.ctx.conn(nodeId);
  }
  async release(): Promise<void> {}
}

/** Names of shard portals inside client transactions: unique, so two open portals never meet on a connection. */
let portalSeq = 0;
export const txPortalName = (): string => `vs_portal${++portalSeq}`;

/** Connections taken from the pools (not the session's), one per node, given back (transaction ended) at release. */
export class Held implements Link {
  readonly inTx = false;
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
    readonly link: Link,
  ) {}

  static async start(merge: SortedMerge, table: DistributedTable, ctx: RunContext, resultFormats: number[], link: Link): Promise<SortedPortal | undefined> {
    try {
      const placed = placeReads(merge.tasks, table, ctx.cluster, ctx.nextTurn());
      const how = await mergeable(merge, resultFormats, await link.conn(placed[0].nodeId));
      if (!how) {
        await link.release();
        return undefined;
      }
      const merger = new SortedMerger(merge, how.cmps, how.formats, () => {}, link.inTx ? txPortalName() : 'vs_merge');
      const portal = new SortedPortal(merger, link);
      await merger
        .open(placed, (n) => link.conn(n))
        .then(() => portal.#park())
        .catch(async (e: unknown) => {
          await portal.#end();
          throw e;
        });
      return portal;
    } catch (e) {
      await link.release();
      throw e;
    }
  }

  async fetch(maxRows: number, send: (f: Buffer) => void): Promise<boolean> {
    if (this.#closed) throw new PgError({ severity: 'ERROR', code: '34000', message: 'portal is closed' });
    try {
      await this.merger.next(maxRows > 0 ? maxRows : Infinity, send);
      if (this.merger.more) {
        await this.#park();
        send(be.portalSuspended());
        return false;
      }
    } catch (e) {
      await this.#end();
      throw e;
    }
    send(be.commandComplete(`SELECT ${this.merger.sent}`));
    await this.#end();
    return true;
  }

  /** Inside the client's transaction, the connections are the session's again between the client's Executes. */
  async #park(): Promise<void> {
    if (this.link.inTx) await this.merger.sync();
  }

  /** Closes the shard portals and gives the connections back. */
  async #end(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.merger.close();
    await this.link.release();
  }

  /**
   * The client closed the portal (or replaced it). Inside its transaction the session may be using the connections
   * right now, so the shard portals are left for the transaction's end to drop.
   */
  async close(): Promise<void> {
    if (this.link.inTx) this.#closed = true;
    else await this.#end();
  }
}

export class PortalStream implements PortalReader {
  #next = 0;
  #open: { conn: NodeConnection; portal: string } | undefined;
  #rows = 0;
  #closed = false;

  private constructor(
    readonly plan: DistributedPlan,
    readonly resultFormats: number[],
    readonly tasks: DistributedPlan['tasks'],
    readonly link: Link,
  ) {}

  static start(plan: DistributedPlan, ctx: RunContext, resultFormats: number[], link: Link): PortalStream {
    return new PortalStream(plan, resultFormats, placeReads(plan.tasks, plan.table, ctx.cluster, ctx.nextTurn()), link);
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
      const { conn, portal } = this.#open!;
      let done = false;
      await this.#exchange(conn, [fe.execute(portal, Number.isFinite(want) ? want : 0)], (f) => {
        if (f[0] === 0x44) {
          send(f);
          this.#rows++;
          want--;
        } else if (f[0] === 0x73) return true; // PortalSuspended
        else if (f[0] === 0x43) return (done = true);
        return false;
      });
      if (done) this.#open = undefined;
    }
    if (this.#open || this.#next < this.tasks.length) {
      send(be.portalSuspended());
      return false;
    }
    send(be.commandComplete(`SELECT ${this.#rows}`));
    await this.#end();
    return true;
  }

  /** Opens the next shard's portal: the shard SELECT parsed and bound on a connection of the link's. */
  async #bind(task: DistributedPlan['tasks'][number]): Promise<void> {
    // Outside a transaction block its snapshot holds from here to the end: the node's implicit transaction stays
    // open (no Sync) until close. Inside one, the client's transaction is the snapshot.
    const conn = await this.link.conn(task.nodeId);
    const portal = this.link.inTx ? txPortalName() : '';
    conn.backend.unnamedOwner = undefined;
    let answered = 0;
    await this.#exchange(conn, [fe.parse({ name: '', sql: task.sql, paramTypes: task.params.types }), bindFor(task, this.resultFormats, '', portal)], (f) => {
      if (f[0] === 0x31 || f[0] === 0x32) answered++;
      return answered === 2;
    });
    this.#open = { conn, portal };
  }

  /**
   * Sends `frames` and reads their answer until `last` says so; inside the client's transaction they end with Sync
   * and the answer with ReadyForQuery. A node error ends the stream and becomes the client's.
   */
  async #exchange(conn: NodeConnection, frames: Buffer[], last: (f: Buffer) => boolean): Promise<void> {
    conn.write(Buffer.concat([...frames, this.link.inTx ? fe.sync() : fe.flush()]));
    let error: be.PgErrorFields | undefined;
    const take = (f: Buffer): boolean => {
      if (f[0] === 0x45) error ??= be.readErrorFields(f);
      else if (f[0] !== 0x4e && f[0] !== 0x53) return last(f); // notices, parameter status
      return false;
    };
    if (this.link.inTx) await conn.readUntilReady(take);
    else while (!take(await conn.read()) && !error);
    if (error) {
      await this.#end();
      throw new PgError(error);
    }
  }

  /** Ends the stream; outside a transaction block, every node's implicit transaction too (Sync), and gives the connections back. */
  async #end(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#open = undefined;
    if (this.link instanceof Held) {
      await Promise.all(
        this.link.list.map(async ({ conn }) => {
          if (conn.broken) return;
          conn.write(fe.sync());
          await conn.readUntilReady(() => {}).catch(() => {});
        }),
      );
    }
    await this.link.release();
  }

  /** The client closed the portal: inside its transaction the node's portal ends with it (see SortedPortal.close). */
  close(): Promise<void> {
    return this.#end();
  }
}
