// The PostgreSQL endpoint: TLS, startup and auth through pg-gateway, then each client's messages to its session.
import net from 'node:net';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import type { Logger } from 'pino';
import { fromDuplexStream } from 'pg-gateway/node';
import { createScramSha256Data, type ScramSha256Data } from 'pg-gateway';
import { FrameReader, FrameError } from '../protocol/frames.ts';
import * as be from '../protocol/backend.ts';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, SSL_REQUEST_CODE } from '../protocol/frontend.ts';
import { ClientSession } from './session.ts';
import { MAX_STARTUP_BYTES, plugSocket, webIo, type ClientIo } from './client-io.ts';
import { DONE, drainOrClose } from '../shards/drain.ts';
import type { Cluster } from '../shards/cluster.ts';
import { PgError } from '../errors.ts';
import { MAINTENANCE_DB } from '../shards/cluster.ts';
import { runQuery } from '../shards/internal-query.ts';
import { parseVerifier, recoverClientKey, type Login, type ScramVerifier } from '../shards/login.ts';
import { quoteLiteral } from '../sql/quote.ts';

/** What PgBouncer's auth_query reads: the role's verifier, if it may log in now. $1 is the role name. */
export const DEFAULT_AUTH_QUERY =
  'SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin AND (rolvaliduntil IS NULL OR rolvaliduntil > now())';

export interface ServerOptions {
  host: string;
  port: number;
  /**
   * trust: anyone; scram-sha-256: the users listed, by password, and with `passthrough` any role whose SCRAM verifier
   * `authQuery` reads from the nodes (it then works on every node as that role, see shards/login.ts).
   */
  auth: { method: 'trust' } | { method: 'scram-sha-256'; users: Record<string, string>; passthrough?: boolean; authQuery?: string };
  tls?: { certFile: string; keyFile: string };
  /** A client that has not finished startup and auth by then is disconnected. */
  startupTimeoutMs?: number;
  /** Statements slower than this are logged with their plan (0 logs every statement). */
  slowQueryMs?: number;
}


export class Server {
  #server: net.Server | undefined;
  #sessions = new Map<number, ClientSession>();
  /** Process ids of the sessions starting or running. */
  #pids = new Set<number>();
  #sockets = new Set<net.Socket>();
  #scram = new Map<string, Promise<ScramSha256Data>>();
  // For unknown users SCRAM runs to its end against a random secret, so the client learns nothing.
  #decoy = createScramSha256Data(Math.random().toString(36));

  constructor(
    readonly options: ServerOptions,
    readonly cluster: Cluster,
    readonly log: Logger,
  ) {}

  get sessions(): number {
    return this.#sessions.size;
  }

  async listen(): Promise<net.AddressInfo> {
    const server = net.createServer((socket) => this.#accept(socket));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    return server.address() as net.AddressInfo;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((s) => s.close()));
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    let preAuthBytes = 0;
    let authenticated = false;
    const countBytes = (chunk: Buffer) => {
      preAuthBytes += chunk.length;
      if (preAuthBytes > MAX_STARTUP_BYTES) socket.destroy();
    };
    socket.on('data', countBytes);
    const timer = setTimeout(() => {
      if (!authenticated) socket.destroy();
    }, this.options.startupTimeoutMs ?? 15000);

    const opts = this.options;
    // The role's verifier when it came from the nodes (pass-through), and the client key its proof gave.
    let verifier: ScramVerifier | undefined;
    let login: Login | undefined;
    const tls = opts.tls ? { cert: toArrayBuffer(fs.readFileSync(opts.tls.certFile)), key: toArrayBuffer(fs.readFileSync(opts.tls.keyFile)) } : undefined;
    const auth =
      opts.auth.method === 'trust'
        ? ({ method: 'trust' } as const)
        : ({
            method: 'scram-sha-256',
            getScramSha256Data: async ({ username }: { username: string }) => {
              const d = await this.#scramData(username);
              if ('verifier' in d) verifier = d.verifier;
              return d.data;
            },
            validateCredentials: ({ authMessage, clientProof, username, scramSha256Data }: { authMessage: string; clientProof: string; username: string; scramSha256Data: ScramSha256Data }) => {
              const clientKey = recoverClientKey(authMessage, clientProof, Buffer.from(scramSha256Data.storedKey, 'base64'));
              if (clientKey && verifier) login = { role: username, scram: { ...verifier, clientKey } };
              return !!clientKey;
            },
          } as const);

    // pg-gateway reads web streams; this one can be unplugged after auth, so a plaintext session then reads the
    // socket directly (web streams cost a lot per message on the hot path).
    const plug = plugSocket(socket);
    // The last message pg-gateway handled: over TLS, what it read after it is still in its buffer at detach.
    let last: Uint8Array | undefined;
    const gateway = fromDuplexStream(plug.duplex, {
      auth,
      tls,
      onMessage: (data, state) => {
        last = data;
        if (state.hasStarted) return undefined;
        const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        const code = view.length >= 8 ? view.readInt32BE(4) : -1;
        const known = (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) && view.length === 8;
        if (!known && !(code === CANCEL_REQUEST_CODE && view.length === 16) && !(code === 196608 && view.length > 8 && view.readInt32BE(0) === view.length)) {
          // What Postgres answers; pg-gateway would throw and print a stack trace for each (a log flood).
          this.#startupFailed();
          const major = code >>> 16;
          const message = view.length < 8 || view.readInt32BE(0) !== view.length ? 'invalid length of startup packet' : `unsupported frontend protocol ${major}.${code & 0xffff}: server supports 3.0 to 3.0`;
          socket.end(be.errorResponse({ severity: 'FATAL', code: major === 3 || view.length < 8 ? '08P01' : '0A000', message }));
          return new Uint8Array(0);
        }
        if (code === GSSENC_REQUEST_CODE && view.length === 8) return new Uint8Array([0x4e]); // 'N': no GSS encryption
        if (code === CANCEL_REQUEST_CODE && view.length === 16) {
          void this.#cancel(view.readInt32BE(8), view.readInt32BE(12));
          socket.destroy();
          return new Uint8Array(0);
        }
        return undefined;
      },
      onAuthenticated: async (state) => {
        authenticated = true;
        clearTimeout(timer);
        socket.off('data', countBytes);
        const conn = await gateway;
        const duplex = await conn.detach();
        const params = state.clientParams ?? { user: 'postgres' };
        const io = state.tlsInfo ? webIo(duplex, tlsLeftover(conn, last)) : plug.unplug();
        setImmediate(() => void this.#serve(io, params, socket, login));
      },
    });
    gateway.catch((e) => {
      this.log.debug({ err: e }, 'client startup failed');
      this.#startupFailed();
      socket.destroy();
    });
  }

  #failedStartups = 0;
  #failureTimer: NodeJS.Timeout | undefined;

  /** Counts a startup that failed (malformed, abandoned); summed up in one warning a minute at most. */
  #startupFailed(): void {
    this.#failedStartups++;
    this.#failureTimer ??= setTimeout(() => {
      this.log.warn({ count: this.#failedStartups }, 'client startups failed in the last minute (malformed packets, wrong cancel keys, hang-ups)');
      this.#failedStartups = 0;
      this.#failureTimer = undefined;
    }, 60_000).unref();
  }

  /** A fixed user's SCRAM data (from its password), or with pass-through the role's verifier from the nodes. */
  async #scramData(user: string): Promise<{ data: ScramSha256Data } | { data: ScramSha256Data; verifier: ScramVerifier }> {
    const auth = this.options.auth;
    if (auth.method !== 'scram-sha-256') return { data: await this.#decoy };
    if (Object.hasOwn(auth.users, user)) {
      let d = this.#scram.get(user);
      if (!d) {
        d = createScramSha256Data(auth.users[user]);
        this.#scram.set(user, d);
      }
      return { data: await d };
    }
    const verifier = auth.passthrough ? await this.#lookup(user, auth.authQuery ?? DEFAULT_AUTH_QUERY) : undefined;
    if (!verifier) return { data: await this.#decoy };
    const b64 = (b: Buffer) => b.toString('base64');
    return { data: { salt: verifier.salt, iterations: verifier.iterations, storedKey: b64(verifier.storedKey), serverKey: b64(verifier.serverKey) }, verifier };
  }

  /** The role's verifier, read by vecshard's own user on the first node that answers; undefined if none. */
  async #lookup(user: string, query: string): Promise<ScramVerifier | undefined> {
    for (const id of this.cluster.members().filter((n) => this.cluster.isUp(n))) {
      const pool = this.cluster.pool(id, MAINTENANCE_DB);
      let conn;
      try {
        conn = await pool.acquire();
        const r = await runQuery(conn, query.replaceAll('$1', quoteLiteral(user)));
        await pool.release(conn, true);
        return parseVerifier(r.rows[0]?.[0]);
      } catch (e) {
        if (conn) await pool.release(conn, false);
        this.log.warn({ err: e, node: id }, 'auth query failed');
      }
    }
    return undefined;
  }

  async #cancel(pid: number, secret: number): Promise<void> {
    const s = this.#sessions.get(pid);
    if (s && s.secret === secret) await s.cancel().catch(() => {});
  }

  async #serve(io: ClientIo, params: Record<string, string>, socket: net.Socket, login: Login | undefined): Promise<void> {
    await io.ready;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // Messages sent one after another from one read of a node lie side by side in its buffer: they are kept as one
    // run (the last one sent, from `runStart` to `runEnd` in its memory) and written without being copied.
    let run: Buffer | undefined;
    let runStart = 0;
    let runEnd = 0;
    const endRun = () => {
      if (!run) return;
      pending.push(run.byteOffset === runStart && run.length === runEnd - runStart ? run : Buffer.from(run.buffer, runStart, runEnd - runStart));
      run = undefined;
    };
    // Not async: after every statement, and a promise made per call showed in P1's profile.
    const flush = (): Promise<void> => {
      endRun();
      if (!pending.length) return DONE;
      const data = pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      return io.write(data);
    };
    // What the client has not read yet: ours to send, and the socket's to write.
    const backlog = () => pendingBytes + socket.writableLength;
    const drained = async () => {
      await flush();
      while (socket.writableNeedDrain && !socket.destroyed) await drainOrClose(socket);
    };
    const send = (b: Buffer) => {
      if (b[0] === 0x45) this.cluster.metrics.error(be.readErrorFields(b).code ?? 'XX000');
      if (run && b.buffer === run.buffer && b.byteOffset === runEnd) runEnd += b.length;
      else {
        endRun();
        run = b;
        runStart = b.byteOffset;
        runEnd = b.byteOffset + b.length;
      }
      pendingBytes += b.length;
      if (pendingBytes > 256 * 1024) void flush().catch(() => socket.destroy());
    };
    const database = params.database || params.user;
    const log = this.log.child({ user: params.user, database });
    // A process id no other session of this server has (random ones collided: cancels went astray).
    let pid = randomInt(1, 2 ** 31 - 1);
    while (this.#pids.has(pid)) pid = randomInt(1, 2 ** 31 - 1);
    this.#pids.add(pid);
    socket.once('close', () => this.#pids.delete(pid));
    const session = new ClientSession({ pid, cluster: this.cluster, database, user: params.user, login, startupParams: params, send, flush, backlog, drained, log, slowQueryMs: this.options.slowQueryMs ?? 1000 });
    try {
      await session.start();
    } catch (e) {
      const fields = e instanceof PgError ? e.fields : { severity: 'FATAL', code: 'XX000', message: String(e) };
      send(be.errorResponse({ ...fields, severity: 'FATAL' }));
      await flush().catch(() => {});
      await session.close();
      socket.end();
      return;
    }
    this.#sessions.set(session.pid, session);
    // A client that vanishes mid-query: stop its work on the node rather than let it run on.
    socket.once('close', () => {
      if (!session.closed) void session.cancel();
    });
    const frames = new FrameReader();
    try {
      for (;;) {
        const value = await io.read();
        const done = value === undefined;
        if (done || session.closed) break;
        let list: Buffer[];
        try {
          list = frames.push(value!);
        } catch (e) {
          if (!(e instanceof FrameError)) throw e;
          send(be.errorResponse({ severity: 'FATAL', code: '08P01', message: `invalid message format: ${e.message}` }));
          await flush().catch(() => {});
          break;
        }
        const relayed = session.relay(list);
        if (relayed && (await relayed)) {
          if (session.closed) return; // a lane that ended the session (FATAL) ends the connection now
          continue;
        }
        for (const [i, f] of list.entries()) {
          if (f[0] === 0x58) return; // Terminate
          session.ahead = { list, next: i + 1 };
          await session.handle(f);
          if (session.closed) return;
        }
      }
    } catch (e) {
      log.debug({ err: e }, 'client connection ended');
    } finally {
      this.#sessions.delete(session.pid);
      await session.close();
      await flush().catch(() => {});
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  }
}

/**
 * Bytes pg-gateway decrypted after the last message it handled (a Query sent with the startup packet) and left in
 * its message buffer when detached: the session reads them first. Reads pg-gateway's internals (pinned version).
 */
function tlsLeftover(conn: object, last: Uint8Array | undefined): Uint8Array | undefined {
  const mb = (conn as { messageBuffer?: { buffer: Uint8Array; bufferOffset: number; bufferLength: number } }).messageBuffer;
  if (!mb || !last || last.buffer !== mb.buffer.buffer) return undefined;
  const from = last.byteOffset + last.byteLength - mb.buffer.byteOffset;
  const end = mb.bufferOffset + mb.bufferLength;
  return from < end ? mb.buffer.slice(from, end) : undefined;
}

function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}
