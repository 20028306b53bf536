// How a session reads and writes its client's socket: through pg-gateway's web streams for startup, auth and TLS,
// then (plaintext) straight from the socket, since web streams cost a lot per message on the hot path.
import type net from 'node:net';
import { DONE, drainOrClose } from '../shards/drain.ts';

/** Bytes a client may send before it has authenticated. */
export const MAX_STARTUP_BYTES = 64 * 1024;

/** How a session reads and writes its client, whatever carries the bytes. */
export interface ClientIo {
  ready: Promise<void>;
  /** The next chunk, or undefined at the end. */
  read(): Promise<Uint8Array | undefined>;
  write(data: Buffer): Promise<void>;
}

/**
 * A web-stream duplex over a plaintext socket for pg-gateway's startup and auth, which `unplug()` turns into
 * direct socket I/O. Chunks are handed out only when pg-gateway asks (pull, high-water mark 0), so none is left
 * inside the web stream at the switch.
 */
/** pg-gateway says 28000 for a failed SCRAM proof; Postgres (and clients that test for it) say 28P01, invalid_password. */
function invalidPassword(data: Uint8Array): Uint8Array {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b[0] !== 0x45 || !b.includes('Mpassword authentication failed')) return data;
  const at = b.indexOf('C28000\0');
  if (at > 0) b.write('C28P01', at);
  return data;
}

export function plugSocket(socket: net.Socket): { duplex: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }; unplug(): ClientIo } {
  const queue: Buffer[] = [];
  let ended = false;
  // Everyone waiting is woken (a read pg-gateway left pending must not take the session's wake-up).
  let waiters: Array<() => void> = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  socket.on('data', (b) => {
    queue.push(b);
    wake();
  });
  const end = () => {
    ended = true;
    wake();
  };
  socket.on('end', end);
  socket.on('close', end);
  // Once the session reads the socket itself, pg-gateway gets nothing more.
  let unplugged = false;
  const next = async (forGateway = false): Promise<Uint8Array | undefined> => {
    while (!queue.length && !ended) await new Promise<void>((r) => waiters.push(r));
    if (forGateway && unplugged) return new Promise<never>(() => {});
    return queue.shift();
  };
  // Before auth, pg-gateway gets one message at a time: it stops reading when the client is authenticated, and a
  // Query sent in the same write as the startup packet would be lost with its buffer. What it has not been given
  // is read after unplugging.
  let typed = false;
  // After the server's 'S' to an SSLRequest the bytes are TLS records, handed over as they come.
  let tls = false;
  let held: Buffer = Buffer.alloc(0);
  const nextMessage = async (): Promise<Uint8Array | undefined> => {
    if (tls) return held.length ? takeAll() : next(true);
    for (;;) {
      const header = typed ? 5 : 4;
      if (held.length >= header) {
        const len = held.readInt32BE(typed ? 1 : 0) + (typed ? 1 : 0);
        if (len < header || len > MAX_STARTUP_BYTES) return takeAll();
        if (held.length >= len) {
          const msg = held.subarray(0, len);
          held = held.subarray(len);
          // A startup packet (protocol 3.0) ends the untyped messages; SSL, GSS and cancel requests do not.
          if (!typed && len >= 8 && msg.readInt32BE(4) === 196608) typed = true;
          return msg;
        }
      }
      const b = await next(true);
      if (b === undefined) return held.length ? takeAll() : undefined;
      held = held.length ? Buffer.concat([held, b]) : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    }
  };
  const takeAll = () => {
    const all = held;
    held = Buffer.alloc(0);
    return all;
  };
  const write = (data: Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      // A client gone during startup: nothing to tell it, and nothing for pg-gateway to print.
      if (socket.destroyed || socket.writableEnded) return resolve();
      socket.write(data, () => resolve());
    });
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(ctrl) {
        const b = await nextMessage();
        if (b === undefined) ctrl.close();
        else ctrl.enqueue(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      },
    },
    { highWaterMark: 0 },
  );
  const writable = new WritableStream<Uint8Array>({
    write: (d) => {
      if (d.length === 1 && d[0] === 0x53) tls = true;
      return write(invalidPassword(d));
    },
    close: () => void socket.end(),
  });
  return {
    duplex: { readable, writable },
    unplug: () => {
      unplugged = true;
      return {
        ready: Promise.resolve(),
        read: () => (held.length ? Promise.resolve(takeAll()) : next()),
        write: (data) => {
          if (socket.destroyed) return Promise.reject(new Error('socket closed'));
          // A client that went away never drains: wait for either.
          return socket.write(data) ? DONE : drainOrClose(socket);
        },
      };
    },
  };
}

/** I/O over the web streams pg-gateway hands back (TLS sessions); `first` is read before them. */
export function webIo(duplex: { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }, first?: Uint8Array): ClientIo {
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  let writer: WritableStreamDefaultWriter<Uint8Array>;
  const ready = (async () => {
    while (duplex.readable.locked || duplex.writable.locked) await new Promise((r) => setImmediate(r));
    reader = duplex.readable.getReader();
    writer = duplex.writable.getWriter();
  })();
  return {
    ready,
    read: async () => {
      if (first) {
        const f = first;
        first = undefined;
        return f;
      }
      const { value, done } = await reader.read();
      return done ? undefined : value;
    },
    write: async (data) => {
      await writer.ready;
      await writer.write(data);
    },
  };
}
