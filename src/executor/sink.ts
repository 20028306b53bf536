// Where a plan's answer goes: the client, a portal's buffer, COPY out. The executor writes protocol frames
// (RowDescription, DataRow as the nodes sent them, CommandComplete, notices) to a sink and never to a socket.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { copyOutLine, type CopyOutFormat } from './copy-rows.ts';

export interface Sink {
  send(frame: Buffer): void;
  /** The client has much unread: whoever sends should wait for drained() (see ClientSession.throttle). */
  congested?(): boolean;
  drained?(): Promise<void>;
}

/**
 * Keeps a statement's rows and its CommandComplete (a portal hands them out in parts, Execute by Execute); every
 * other frame (notices, a RowDescription) goes on to `next` at once.
 */
export class BufferSink implements Sink {
  readonly rows: Buffer[] = [];
  complete: Buffer | undefined;
  constructor(readonly next: Sink) {}
  send(f: Buffer): void {
    if (f[0] === 0x44) this.rows.push(f);
    else if (f[0] === 0x43) this.complete ??= f;
    else this.next.send(f);
  }
}

/**
 * COPY (query) TO STDOUT: a SELECT's answer rewritten on the way out — its RowDescription opens the COPY, each row
 * becomes a line, its tag becomes COPY n.
 */
export class CopyOutSink implements Sink {
  constructor(
    readonly next: Sink,
    readonly out: CopyOutFormat,
  ) {}
  send(f: Buffer): void {
    if (f[0] === 0x54) {
      const fields = be.readRowDescription(f);
      this.next.send(be.copyOutResponse(0, fields.length));
      if (this.out.header) this.next.send(fe.copyData(Buffer.from(copyOutLine(fields.map((c) => c.name), this.out))));
    } else if (f[0] === 0x44) {
      const values = be.readDataRow(f).map((b) => (b === null ? null : b.toString('utf8')));
      this.next.send(fe.copyData(Buffer.from(copyOutLine(values, this.out))));
    } else if (f[0] === 0x43) {
      this.next.send(fe.copyDone());
      this.next.send(be.commandComplete(`COPY ${/(\d+)$/.exec(be.readCommandTag(f))?.[1] ?? 0}`));
    } else this.next.send(f);
  }
}
