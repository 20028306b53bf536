// COPY FROM STDIN: the client's CopyData relayed to the home node (a plain table), or routed row by row to the
// shards of a distributed table — streamed as it arrives where the nodes allow, else sent at CopyDone.
import { rowsWritten } from '../operations/calibrate.ts';
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { CopyPlan } from '../planner/statement.ts';
import { DistCopyIn } from '../executor/copy.ts';
import { BINARY_HEADER } from '../executor/copy-binary.ts';
import { CopyStreams } from '../executor/copy-stream.ts';
import { growRadii, lockForCopy } from '../executor/run.ts';
import { commitDistributed, rollbackAll, withOwnTransaction } from '../executor/transaction.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { copyLines } from '../operations/distribute.ts';
import { PgError } from '../errors.ts';
import { limits } from '../limits.ts';
import type { ClientSession } from './session.ts';

/** CopyData frames gathered before one write to the node. */
const FRAMES_PER_WRITE = 256;

export class CopyIn {
  /** A COPY is in progress: the client's messages are its data until CopyDone or CopyFail. */
  active = false;
  #dist: DistCopyIn | undefined;
  #streams: CopyStreams | undefined;
  #out: Buffer[] = [];
  /** Releases the shard write locks a distributed COPY holds from its start to its end. */
  #unlock: (() => void) | undefined;

  constructor(readonly cs: ClientSession) {}

  /** After an error (or the client gone): the COPY is over (the node's side was ended by whoever failed). */
  reset(): void {
    this.active = false;
    this.#dist = undefined;
    this.#out = [];
    this.#release();
  }

  #release(): void {
    this.#unlock?.();
    this.#unlock = undefined;
  }

  /** COPY into a plain table: the home node answers, and the data is relayed to it. */
  async start(frame: Buffer, pins: boolean): Promise<void> {
    const { cs } = this;
    const conn = await cs.s.acquire();
    if (pins) cs.s.pinned = true;
    const frames = await conn.startCopyIn(frame);
    for (const f of frames) if (f[0] !== 0x5a) cs.ctx.send(f);
    const last = frames[frames.length - 1];
    if (last[0] === 0x5a) {
      cs.ctx.send(be.readyForQuery(be.readyStatus(last)));
      cs.s.status = be.readyStatus(last);
      return cs.afterReady();
    }
    this.active = true;
    await cs.ctx.flush();
  }

  /** COPY into a distributed table: vecshard answers the client itself and routes the rows. */
  async startDistributed(plan: CopyPlan): Promise<void> {
    const { cs } = this;
    // Under the shards' write locks, so a repair cannot copy a shard while its rows are still coming.
    const locked = await lockForCopy(cs.s, plan.table);
    this.#unlock = locked.unlock;
    plan = { ...plan, table: locked.table };
    this.#dist = new DistCopyIn(plan, (expr, n) => cs.s.evalDefault(expr, n));
    // Outside a transaction block the rows stream to the shards as they arrive; inside one they must go through
    // the session's own node connections, so they are sent at the end.
    this.#streams = cs.s.status === 'I' && CopyStreams.possible(cs.s.cluster, this.#dist) ? new CopyStreams(cs.s.cluster, cs.s.database, this.#dist, cs.s.login) : undefined;
    this.active = true;
    cs.ctx.send(be.copyInResponse(this.#dist.binary ? 1 : 0, plan.columns.length));
    await cs.ctx.flush();
  }

  async message(type: string, frame: Buffer): Promise<void> {
    if (this.#dist) return this.#distMessage(type, frame);
    const { cs } = this;
    const conn = cs.s.homeConn!;
    if (type === 'd') {
      this.#out.push(frame);
      if (this.#out.length >= FRAMES_PER_WRITE) conn.write(Buffer.concat(this.#out.splice(0)));
      return;
    }
    if (type === 'H' || type === 'S') return; // ignored during COPY, as Postgres does
    this.active = false;
    this.#out.push(type === 'c' || type === 'f' ? frame : fe.copyFail(`unexpected message type "${type}" during COPY`));
    conn.write(Buffer.concat(this.#out.splice(0)));
    await cs.relayUntilReady(conn);
    await cs.afterReady();
  }

  async #distMessage(type: string, frame: Buffer): Promise<void> {
    const streams = this.#streams;
    try {
      await this.#routeMessage(type, frame);
    } catch (e) {
      this.#streams = undefined;
      await streams?.finish(() => this.cs.s.acquire(this.cs.s.home), false).catch(() => {});
      const own = this.#own;
      this.#own = undefined;
      if (own) await rollbackAll(own.conns);
      this.#release();
      throw e;
    }
  }

  /** The transaction of a COPY sent in batches outside a transaction block: begun on every node with a copy. */
  #own: { home: NodeConnection; conns: NodeConnection[] } | undefined;

  /** Sends what the COPY holds now; the first batch outside a transaction block begins one of the session's own. */
  async #sendBatch(copy: DistCopyIn): Promise<void> {
    const s = this.cs.s;
    if (s.status === 'I' && !this.#own) {
      const nodes = [...new Set(copy.plan.table.shards.flatMap((sh) => sh.nodes))];
      const conns = await Promise.all(nodes.map(s.conn));
      for (const c of conns) await runQuery(c, 'BEGIN');
      this.#own = { home: await s.acquire(s.home), conns };
    }
    await this.#send(copy);
  }

  /** Sends the held lines, one COPY at a time per node connection, nodes in parallel; then forgets them. */
  async #send(copy: DistCopyIn): Promise<void> {
    const s = this.cs.s;
    const nodes = [...new Set([...copy.perShard.keys()].flatMap((i) => copy.plan.table.shards[i].nodes))];
    // Every node's COPY ends before an error is reported: a rollback must not meet a COPY still running.
    const done = await Promise.allSettled(
      nodes.map(async (n) => {
        const c = await s.acquire(n);
        for (const [index, lines] of copy.perShard) {
          if (copy.plan.table.shards[index].nodes.includes(n)) await copyLines(c, copy.copySql(index), lines, undefined, copy.binary ? BINARY_HEADER : undefined);
        }
      }),
    );
    const failed = done.find((d) => d.status === 'rejected');
    if (failed) throw failed.reason;
    copy.perShard.clear();
    copy.pendingBytes = 0;
  }

  async #routeMessage(type: string, frame: Buffer): Promise<void> {
    const { cs } = this;
    const s = cs.s;
    const copy = this.#dist!;
    const streams = this.#streams;
    if (type === 'd') {
      await copy.push(frame.subarray(5));
      if (streams) return streams.send();
      // Without streams (in a transaction block, or embedded nodes) a large COPY is sent in batches on the session's
      // connections, in one transaction, so the coordinator holds one batch and not the whole COPY. (A small one is
      // sent whole at the end: an embedded node is then held only briefly.)
      if (copy.pendingBytes >= limits.copyBatchBytes) await this.#sendBatch(copy);
      return;
    }
    if (type === 'H' || type === 'S') return;
    this.active = false;
    this.#dist = undefined;
    if (type !== 'c') {
      const why = type === 'f' ? fe.readQuery(frame) : `unexpected message type "${type}" during COPY`;
      throw new PgError({ severity: 'ERROR', code: '57014', message: `COPY from stdin failed: ${why}` });
    }
    await copy.end();
    await growRadii(s, copy.radii.sql());
    if (streams) {
      await streams.send(true);
      this.#streams = undefined;
      await streams.finish(() => s.acquire(s.home), true);
    } else if (this.#own || s.status !== 'I') {
      await this.#sendBatch(copy);
      const own = this.#own;
      this.#own = undefined;
      if (own) await commitDistributed(own.home, own.conns.filter((c) => c !== own.home), own.conns.includes(own.home));
    } else {
      const nodes = [...new Set([...copy.perShard.keys()].flatMap((i) => copy.plan.table.shards[i].nodes))];
      const send = () => this.#send(copy);
      if (nodes.length > 1) await withOwnTransaction(await s.acquire(s.home), await Promise.all(nodes.map(s.conn)), send);
      else await send();
    }
    // Inside a transaction block the rows commit with it: the locks go with the transaction's.
    if (s.inTransaction && this.#unlock) s.keepLocks([this.#unlock]);
    else this.#release();
    this.#unlock = undefined;
    cs.ctx.send(be.commandComplete(`COPY ${copy.rows}`));
    if (copy.plan.table.calibration) rowsWritten(s, copy.plan.table, copy.rows);
    await cs.ready(s.status);
    await cs.afterReady();
  }
}
