// A session on a PostgreSQL server over TCP.
import net from 'node:net';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { FrameReader, MAX_NODE_MESSAGE_BYTES, Reader, body } from '../protocol/frames.ts';
import { readBackendKeyData, readErrorFields } from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import { NodeConnection } from './node-connection.ts';
import { PgError, connectionFailure } from '../errors.ts';
import { ScramKeyClient, type Login } from './login.ts';
import { drainOrClose } from './drain.ts';
import { loopTimeout } from './loop-timer.ts';

// node-postgres's SCRAM client; reused rather than rewritten.
const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js') as {
  startSession(mechanisms: string[]): { response: string; message: string };
  continueSession(session: object, password: string, data: string): Promise<void>;
  finalizeSession(session: object, data: string): void;
};

export interface PgNodeAddress {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** Log in with a client's SCRAM key instead of a password (pass-through, see login.ts). */
  scram?: Login['scram'];
}

/** A node's address from a connection string (postgres://user:password@host:port, no database). */
export function parseNodeUrl(url: string): PgNodeAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error('not a valid connection string');
  }
  if (!/^postgres(ql)?:$/.test(u.protocol)) throw new Error('must be a connection string like postgres://user:password@host:5432');
  if (u.pathname.length > 1) throw new Error('leave the database out of the URL; clients choose it when they connect');
  return {
    host: decodeURIComponent(u.hostname) || '127.0.0.1',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || 'postgres',
    password: u.password ? decodeURIComponent(u.password) : undefined,
  };
}

/** Whether a node accepts a connection within the timeout (the health check). */
export async function answers(nodeId: number, database: string, address: PgNodeAddress, timeoutMs: number): Promise<boolean> {
  const c = new PgNodeConnection(nodeId, database, address);
  try {
    await c.connect(timeoutMs);
    return true;
  } catch {
    return false;
  } finally {
    c.close();
  }
}

export class PgNodeConnection extends NodeConnection {
  #socket!: net.Socket;
  #key: { pid: number; secret: number } | undefined;

  constructor(
    nodeId: number,
    database: string,
    readonly address: PgNodeAddress,
  ) {
    super(nodeId, database);
  }

  get backendPid(): number | undefined {
    return this.#key?.pid;
  }

  /** Connects and authenticates; rejects with the node's own error (e.g. 3D000) or 08006. */
  async connect(timeoutMs: number): Promise<void> {
    const { host, port } = this.address;
    const socket = net.connect({ host, port });
    this.#socket = socket;
    socket.setNoDelay(true);
    // A host that vanishes (a network black hole) shows as a dead socket rather than a read that never ends.
    socket.setKeepAlive(true, 10_000);
    const reader = new FrameReader(MAX_NODE_MESSAGE_BYTES);
    socket.on('data', (chunk) => {
      let frames: Buffer[];
      try {
        frames = reader.push(chunk);
      } catch (e) {
        this.fail(e as Error);
        socket.destroy();
        return;
      }
      this.lastActivity = performance.now();
      for (const f of frames) this.deliver(f);
    });
    socket.on('error', (e) => this.fail(connectionFailure(this.nodeId, `${host}:${port}: ${e.message}`)));
    socket.on('close', () => this.fail(connectionFailure(this.nodeId, `${host}:${port}: connection closed`)));

    const cancel = loopTimeout(timeoutMs, () => {
      this.fail(connectionFailure(this.nodeId, `${host}:${port}: no answer within ${timeoutMs} ms`));
      socket.destroy();
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (e) => reject(connectionFailure(this.nodeId, `${host}:${port}: ${e.message}`)));
        // Destroyed by the timeout before the TCP handshake ended (a host that drops packets): no 'error' comes.
        socket.once('close', () => reject(connectionFailure(this.nodeId, `${host}:${port}: no answer within ${timeoutMs} ms`)));
      });
      socket.write(
        fe.startupMessage({ user: this.address.user, database: this.database, client_encoding: 'UTF8', application_name: 'vecshard' }),
      );
      await this.#authenticate();
    } finally {
      cancel();
    }
  }

  async #authenticate(): Promise<void> {
    let scram: object | undefined;
    const keyed = this.address.scram ? new ScramKeyClient(this.address.scram) : undefined;
    for (;;) {
      const f = await this.read();
      const t = String.fromCharCode(f[0]);
      if (t === 'E') throw new PgError(readErrorFields(f));
      if (t === 'K') this.#key = readBackendKeyData(f);
      if (t === 'Z') return;
      if (t !== 'R') continue;
      const r = new Reader(body(f));
      const code = r.int32();
      const password = this.address.password ?? '';
      if (code === 3) this.write(fe.passwordMessage(password));
      else if (code === 5) {
        const salt = r.bytes(4);
        const inner = createHash('md5').update(password + this.address.user).digest('hex');
        const outer = createHash('md5').update(Buffer.concat([Buffer.from(inner), salt])).digest('hex');
        this.write(fe.passwordMessage('md5' + outer));
      } else if (code === 10 && keyed) {
        this.write(saslMessage(keyed.first, true));
      } else if (code === 11 && keyed) {
        const final = keyed.final(r.rest().toString('utf8'));
        if (final === null) {
          throw new PgError({
            severity: 'FATAL',
            code: '28P01',
            message: `vecshard: role "${this.address.user}" has another password on node ${this.nodeId} than on node 0`,
            hint: 'Set the password through vecshard (ALTER ROLE ... PASSWORD), which gives every node the same verifier.',
          });
        }
        this.write(saslMessage(final, false));
      } else if (code === 12 && keyed) {
        if (!keyed.verify(r.rest().toString('utf8'))) throw new PgError({ severity: 'FATAL', code: '28000', message: `vecshard: node ${this.nodeId} could not prove it knows role "${this.address.user}"'s verifier` });
      } else if (keyed && (code === 3 || code === 5)) {
        throw new PgError({ severity: 'FATAL', code: '28000', message: `vecshard: node ${this.nodeId} asks for a password for role "${this.address.user}", and pass-through only works with scram-sha-256` });
      } else if (code === 10) {
        const mechanisms: string[] = [];
        for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
        const s = sasl.startSession(mechanisms);
        scram = s;
        const resp = Buffer.from(s.response, 'utf8');
        const w = Buffer.alloc(4);
        w.writeInt32BE(resp.length);
        this.write(fe.passwordMessage(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), w, resp])));
      } else if (code === 11 && scram) {
        await sasl.continueSession(scram, password, r.rest().toString('utf8'));
        this.write(fe.passwordMessage(Buffer.from((scram as { response: string }).response, 'utf8')));
      } else if (code === 12 && scram) {
        sasl.finalizeSession(scram, r.rest().toString('utf8'));
      } else if (code !== 0) {
        throw new PgError({ severity: 'FATAL', code: '28000', message: `vecshard: node ${this.nodeId} asks for an unsupported authentication method (${code})` });
      }
    }
  }

  write(data: Buffer): void {
    this.atRest = false;
    this.lastActivity = performance.now();
    if (!this.broken) this.#socket.write(data);
  }

  override get congested(): boolean {
    return !this.broken && this.#socket.writableLength >= 8 << 20;
  }

  override pause(): void {
    super.pause();
    this.#socket.pause();
  }

  override resume(): void {
    super.resume();
    if (!this.broken) this.#socket.resume();
  }

  override async drained(): Promise<void> {
    const s = this.#socket;
    if (this.broken || s.writableLength < 8 << 20) return;
    await drainOrClose(s);
  }

  async startCopyIn(query: Buffer): Promise<Buffer[]> {
    this.write(query);
    const out: Buffer[] = [];
    for (;;) {
      const f = await this.read();
      out.push(f);
      if (f[0] === 0x47 /* G */) this.copying = true;
      if (f[0] === 0x47 /* G */ || f[0] === 0x5a /* Z */) return out;
    }
  }

  async cancel(): Promise<void> {
    if (!this.#key || this.broken) return;
    const { pid, secret } = this.#key;
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: this.address.host, port: this.address.port }, () => {
        s.end(fe.cancelRequest(pid, secret));
      });
      s.on('close', () => resolve());
      s.on('error', () => resolve());
    });
  }

  close(): void {
    if (!this.broken) this.#socket.end(fe.terminate());
    this.broken = true;
    this.#socket.destroy();
  }
}

/** A SASLInitialResponse (mechanism and length first) or a SASLResponse, in a PasswordMessage frame. */
function saslMessage(text: string, initial: boolean): Buffer {
  const data = Buffer.from(text, 'utf8');
  if (!initial) return fe.passwordMessage(data);
  const len = Buffer.alloc(4);
  len.writeInt32BE(data.length);
  return fe.passwordMessage(Buffer.concat([Buffer.from('SCRAM-SHA-256\0'), len, data]));
}
