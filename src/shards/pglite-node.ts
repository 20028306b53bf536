// Embedded nodes: one PGlite (real Postgres in WASM, with pgvector) per node and database, each in a worker thread.
// A PGlite instance is a single backend session, so its pool holds one connection.
import { Worker } from 'node:worker_threads';
import { splitFrames } from '../protocol/frames.ts';
import * as fe from '../protocol/frontend.ts';
import { NodeConnection } from './node-connection.ts';
import { connectionFailure } from '../errors.ts';

const WORKER_URL = new URL('./pglite-worker.mjs', import.meta.url);

/** One PGlite data directory served by one worker thread. */
export class PgliteInstance {
  #worker: Worker | undefined;
  #starting: Promise<Worker> | undefined;
  #nextId = 1;
  #pending = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void }>();

  constructor(
    readonly nodeId: number,
    readonly dataDir: string,
  ) {}

  start(): Promise<Worker> {
    if (this.#worker) return Promise.resolve(this.#worker);
    this.#starting ??= new Promise<Worker>((resolve, reject) => {
      const w = new Worker(WORKER_URL, { workerData: { dataDir: this.dataDir } });
      w.once('message', (m: { ready: boolean; error?: string }) => {
        if (!m.ready) {
          this.#starting = undefined;
          void w.terminate();
          reject(connectionFailure(this.nodeId, `PGlite at ${this.dataDir} did not start: ${m.error}`));
          return;
        }
        w.on('message', (r: { id?: number; data?: Uint8Array; error?: string; fatal?: boolean }) => {
          if (r.id === undefined) return;
          const p = this.#pending.get(r.id);
          this.#pending.delete(r.id);
          if (!p) return;
          if (r.data) p.resolve(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength));
          else {
            if (r.fatal) this.#restart();
            p.reject(connectionFailure(this.nodeId, `PGlite: ${r.error}`));
          }
        });
        this.#worker = w;
        resolve(w);
      });
      w.once('error', (e) => {
        this.#failAll(e);
        this.#worker = undefined;
        this.#starting = undefined;
        reject(connectionFailure(this.nodeId, `PGlite worker failed: ${e.message}`));
      });
    });
    return this.#starting;
  }

  async exec(data: Buffer): Promise<Buffer> {
    const w = await this.start();
    const id = this.#nextId++;
    return new Promise<Buffer>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      w.postMessage({ id, data });
    });
  }

  async stop(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.#starting = undefined;
    if (!w) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, 5000);
      w.on('message', (m: { closed?: boolean }) => {
        if (m.closed) {
          clearTimeout(t);
          resolve();
        }
      });
      w.postMessage({ close: true });
    });
    await w.terminate();
  }

  #restart(): void {
    const w = this.#worker;
    this.#worker = undefined;
    this.#starting = undefined;
    void w?.terminate();
  }

  #failAll(e: Error): void {
    for (const p of this.#pending.values()) p.reject(connectionFailure(this.nodeId, `PGlite: ${e.message}`));
    this.#pending.clear();
  }
}

export class PgliteConnection extends NodeConnection {
  #chain: Promise<void> = Promise.resolve();
  /** While a COPY FROM STDIN is open, its messages are held: PGlite must get the whole COPY in one call. */
  #copy: Buffer[] | undefined;

  constructor(
    nodeId: number,
    database: string,
    readonly instance: PgliteInstance,
  ) {
    super(nodeId, database);
  }

  write(data: Buffer): void {
    this.atRest = false;
    if (this.#copy) {
      this.#copy.push(data);
      const last = lastFrameType(data);
      if (last !== 'c' && last !== 'f') return;
      data = Buffer.concat(this.#copy);
      this.#copy = undefined;
      this.#send(data, true);
      return;
    }
    this.#send(data, false);
  }

  #send(data: Buffer, dropCopyIn: boolean): void {
    this.#chain = this.#chain.then(async () => {
      if (this.broken) return;
      try {
        const out = await this.instance.exec(data);
        this.lastActivity = performance.now();
        for (const f of splitFrames(out)) if (!(dropCopyIn && f[0] === 0x47)) this.deliver(f);
      } catch (e) {
        this.fail(e as Error);
      }
    });
  }

  /** Runs `data` once everything queued before it has run, and returns its frames instead of delivering them. */
  async #execAfterQueued(data: Buffer): Promise<Buffer[]> {
    await this.#chain;
    const frames = splitFrames(await this.instance.exec(data));
    for (const f of frames) if (f[0] === 0x5a) this.status = String.fromCharCode(f[5]) as 'I' | 'T' | 'E';
    return frames;
  }

  async startCopyIn(query: Buffer): Promise<Buffer[]> {
    // Learn the CopyInResponse (or the error) without running the COPY: send it with a CopyFail straight after.
    // Inside a transaction a savepoint keeps that probe's failure from aborting it.
    const probe = Buffer.concat([query, fe.copyFail('vecshard: copy probe')]);
    const inTx = this.status === 'T';
    if (inTx) await this.#execAfterQueued(fe.query('SAVEPOINT vecshard_copy_probe'));
    const frames = await this.#execAfterQueued(probe);
    if (inTx) await this.#execAfterQueued(fe.query('ROLLBACK TO SAVEPOINT vecshard_copy_probe; RELEASE SAVEPOINT vecshard_copy_probe'));
    const g = frames.find((f) => f[0] === 0x47);
    if (g) {
      this.#copy = [query];
      this.copying = true;
      return [g];
    }
    // The COPY itself fails: run it for real so the error and transaction state are the node's own.
    return inTx ? this.#execAfterQueued(probe) : frames;
  }

  async cancel(): Promise<void> {
    // A WASM backend cannot be interrupted from outside; the statement runs to its end.
  }

  close(): void {
    this.broken = true;
  }
}

function lastFrameType(data: Buffer): string {
  let off = 0;
  let last = '';
  while (off + 5 <= data.length) {
    last = String.fromCharCode(data[off]);
    off += 1 + data.readInt32BE(off + 1);
  }
  return last;
}

