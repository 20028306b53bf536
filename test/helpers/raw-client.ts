// A bare protocol client for tests that need exact control over bytes: pg-protocol's serializer and parser, not
// vecshard's own codecs, so the two sides are independent.
import net from 'node:net';
import { createRequire } from 'node:module';
import { serialize, parse } from 'pg-protocol';
import type { BackendMessage } from 'pg-protocol/dist/messages.js';
import { within } from './wait.ts';

export class RawClient {
  socket!: net.Socket;
  messages: BackendMessage[] = [];
  closed = false;
  #waiters: Array<() => void> = [];

  /** Connects and starts up; `pipelined` goes out in the same write as the startup packet (its answers stay in `messages`). */
  static async connect(port: number, params: Record<string, string> = { user: 'postgres', database: 'postgres' }, pipelined?: Buffer, password?: string): Promise<RawClient> {
    const c = new RawClient();
    c.socket = net.connect({ host: '127.0.0.1', port });
    await connected(c.socket);
    void parse(c.socket, (m) => {
      c.messages.push(m);
      c.#wake();
    });
    c.socket.on('close', () => {
      c.closed = true;
      c.#wake();
    });
    c.socket.on('error', () => {});
    c.socket.write(pipelined ? Buffer.concat([serialize.startup(params), pipelined]) : serialize.startup(params));
    if (password !== undefined) {
      // SCRAM as node-postgres does it (its own SASL module), for servers that ask for a password.
      const sasl = createRequire(import.meta.url)('pg/lib/crypto/sasl.js');
      const [first] = (await c.until('authenticationSASL')).slice(-1) as any[];
      const session = sasl.startSession(first.mechanisms);
      c.socket.write(serialize.sendSASLInitialResponseMessage(session.mechanism, session.response));
      const [cont] = (await c.until('authenticationSASLContinue')).slice(-1) as any[];
      await sasl.continueSession(session, password, cont.data);
      c.socket.write(serialize.sendSCRAMClientFinalMessage(session.response));
    }
    await c.until('readyForQuery');
    if (!pipelined) c.messages = [];
    return c;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  write(data: Buffer | Buffer[]): void {
    this.socket.write(Array.isArray(data) ? Buffer.concat(data) : data);
  }

  /** Waits for the n-th message named `name` (counting from the last take()) and returns everything up to it. */
  async until(name: string, n = 1, timeoutMs = 10_000): Promise<BackendMessage[]> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      let seen = 0;
      const idx = this.messages.findIndex((m) => m.name === name && ++seen === n);
      if (idx >= 0) return this.messages.splice(0, idx + 1);
      if (this.closed) throw new Error(`connection closed before ${name}; got ${this.messages.map((m) => m.name).join(',')}`);
      if (Date.now() > end) throw new Error(`timed out waiting for ${name}; got ${this.messages.map((m) => m.name).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    if (!this.closed) throw new Error('connection still open');
  }

  end(): void {
    if (!this.closed) this.socket.end(serialize.end());
  }
}

/** Resolves once the socket is connected; fails on a connection error or after `timeoutMs`. */
export function connected(socket: net.Socket, timeoutMs = 10_000): Promise<void> {
  return within(
    'a TCP connection',
    new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('error', reject);
    }),
    timeoutMs,
  );
}

export const names = (ms: BackendMessage[]) => ms.map((m) => m.name);
