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
import type { RunContext } from './context.ts';

/** Whether a plan's rows can go out shard by shard as they come (no merge, no hidden column, a read). */
export function streamable(plan: DistributedPlan): boolean {
  return !plan.write && !plan.prune && plan.hidden === 0 && plan.merge.kind === 'concat' && plan.merge.limit === Infinity && plan.merge.offset === 0;
}

export class PortalStream {
  #next = 0;
  #open: { conn: NodeConnection; pool: NodePool } | undefined;
  #held: Array<{ conn: NodeConnection; pool: NodePool }> = [];
  #rows = 0;
  #closed = false;

  private constructor(
    readonly plan: DistributedPlan,
    readonly ctx: RunContext,
    readonly resultFormats: number[],
    readonly tasks: DistributedPlan['tasks'],
  ) {}

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
      const { conn } = this.#open!;
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
    let held = this.#held.find((h) => h.conn.nodeId === task.nodeId);
    if (!held) {
      const pool = this.ctx.cluster.pool(task.nodeId, this.ctx.database, this.ctx.login);
      const conn = await pool.acquire(this.ctx.login.role);
      held = { conn, pool };
      this.#held.push(held);
      // Its snapshot holds from here to the end: the node's implicit transaction stays open (no Sync) until close.
    }
    const { conn } = held;
    conn.backend.unnamedOwner = undefined;
    const values = task.params.values;
    const body: Buffer[] = [];
    const u16 = (v: number) => Buffer.from([v >> 8, v & 255]);
    body.push(u16(task.params.formats.length), ...task.params.formats.map(u16), u16(values.length));
    for (const v of values) {
      const len = Buffer.alloc(4);
      len.writeInt32BE(v === null ? -1 : v.length);
      body.push(len);
      if (v) body.push(v);
    }
    body.push(u16(this.resultFormats.length), ...this.resultFormats.map(u16));
    conn.write(Buffer.concat([fe.parse({ name: '', sql: task.sql, paramTypes: task.params.types }), fe.bind({ portal: '', statement: '', rest: Buffer.concat(body) }), fe.flush()]));
    let answered = 0;
    await this.#until(conn, (f) => {
      if (f[0] === 0x31 || f[0] === 0x32) answered++;
      return answered === 2;
    });
    this.#open = held;
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
    for (const { conn, pool } of this.#held.splice(0)) {
      try {
        conn.write(fe.sync());
        await conn.readUntilReady(() => {});
        if (conn.status !== 'I') await runQuery(conn, 'ROLLBACK');
        await pool.release(conn, true);
      } catch {
        await pool.release(conn, false);
      }
    }
  }
}
