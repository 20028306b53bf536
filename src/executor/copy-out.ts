// COPY a distributed table TO STDOUT: each shard's COPY in turn, its data frames relayed as they come. In binary
// format one header starts the stream and one end marker ends it: each shard's own are cut out.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { CopyPlan } from '../planner/statement.ts';
import { NO_PARAMS } from '../planner/params.ts';
import { PgError } from '../errors.ts';
import { constText, type Node } from '../sql/ast.ts';
import { quoteLiteral, quoteName } from '../sql/quote.ts';
import { BINARY_HEADER } from './copy-binary.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';

export async function runCopyOut(plan: CopyPlan, ctx: RunContext, sink: Sink): Promise<void> {
  const t = plan.table;
  const cols = plan.columns.map(quoteName).join(', ');
  // The client's options but HEADER, which vecshard writes once for the whole table.
  const options = plan.options
    .map((o: Node) => o.DefElem)
    .filter((d) => d.defname !== 'header')
    .map((d) => `${d.defname.toUpperCase()} ${quoteLiteral(String(constText(d.arg) ?? d.arg?.String?.sval))}`);
  const opts = options.length ? ` WITH (${options.join(', ')})` : '';
  const binary = plan.format === 'binary';
  const tasks = t.shards.map((s) => ({ nodeId: s.nodes[0], shard: s.name, shardIndex: s.index, sql: '', params: NO_PARAMS }));
  sink.send(be.copyOutResponse(binary ? 1 : 0, plan.columns.length));
  if (plan.header && plan.format === 'csv') sink.send(fe.copyData(Buffer.from(plan.columns.join(',') + '\n')));
  if (binary) sink.send(fe.copyData(BINARY_HEADER));
  let rows = 0;
  for (const task of tasks) {
    const conn = await ctx.conn(task.nodeId);
    conn.write(fe.query(`COPY vecshard_shards.${quoteName(task.shard)} (${cols}) TO STDOUT${opts}`));
    let error: be.PgErrorFields | undefined;
    const cut = binary ? new BinaryCut(sink) : undefined;
    await conn.readUntilReady((f) => {
      if (f[0] === 0x64) cut ? cut.data(f) : sink.send(f);
      else if (f[0] === 0x63 && cut && !cut.done()) error ??= { severity: 'ERROR', code: 'XX000', message: `vecshard: the binary COPY of shard ${task.shard} came without its end marker` };
      else if (f[0] === 0x43) rows += Number(/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0);
      else if (f[0] === 0x45) error ??= be.readErrorFields(f);
    });
    if (error) throw new PgError(error);
  }
  if (binary) sink.send(fe.copyData(Buffer.from([0xff, 0xff])));
  sink.send(fe.copyDone());
  sink.send(be.commandComplete(`COPY ${rows}`));
}

/**
 * One shard's binary COPY data without its header (the first 19 bytes: Postgres writes no header extension) and
 * its end marker (the last 2): each frame is held until the next one shows it is not the last.
 */
class BinaryCut {
  #skip = BINARY_HEADER.length;
  #held: Buffer | undefined;

  constructor(readonly sink: Sink) {}

  data(frame: Buffer): void {
    if (this.#held) this.#emit(this.#held);
    this.#held = frame.subarray(5);
  }

  /** False when the data did not end with the end marker. */
  done(): boolean {
    const last = this.#held;
    this.#held = undefined;
    if (!last || last.length < 2 || last.readInt16BE(last.length - 2) !== -1) return false;
    this.#emit(last.subarray(0, last.length - 2));
    return true;
  }

  #emit(payload: Buffer): void {
    const cut = Math.min(this.#skip, payload.length);
    this.#skip -= cut;
    if (payload.length > cut) this.sink.send(fe.copyData(payload.subarray(cut)));
  }
}
