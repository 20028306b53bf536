// One backend session on one node. The coordinator speaks the PostgreSQL protocol to it in raw frames, whether the
// node is a PostgreSQL server over TCP or a PGlite in a worker thread.
import { readParameterStatus, readyStatus } from '../protocol/backend.ts';
import { PgError } from '../errors.ts';

export type TxStatus = 'I' | 'T' | 'E';

/**
 * The state a node's backend session keeps between statements, as vecshard knows it: which statements are
 * prepared there and which settings are applied. A pooled connection serves one client after another, so this is
 * cleared (reset) whenever the backend session is reset.
 */
export class BackendState {
  /** Session settings applied (executor/settings.ts), as a comparable key; '' for the node's defaults. */
  settingsKey = '';
  /** The client transaction's SET LOCAL statements run here (a shard statement's plan may depend on them). */
  localSettings = '';
  /** Client statements prepared here by vecshard, by their node names. */
  readonly prepared = new Set<string>();
  /** Shard statements prepared here (executor/shard-tasks.ts), oldest first. */
  readonly taskStatements = new Set<string>();
  /** Who last parsed the unnamed statement here; a different owner must parse again. */
  unnamedOwner: unknown = undefined;
  /**
   * The client role this session acts as (SET SESSION AUTHORIZATION, or the role it logged in as); undefined for
   * the node's own user. Kept across resets: PGlite's DISCARD ALL leaves the session authorization as it is.
   */
  role: string | undefined = undefined;

  forgetStatements(): void {
    this.prepared.clear();
    this.taskStatements.clear();
    this.unnamedOwner = undefined;
  }

  /** After DISCARD ALL: nothing of any earlier client is left. */
  reset(): void {
    this.forgetStatements();
    this.settingsKey = '';
    this.localSettings = '';
  }
}

export abstract class NodeConnection {
  /** ParameterStatus values the node reported, kept current as it reports changes. */
  readonly params = new Map<string, string>();
  /** Transaction status from the node's last ReadyForQuery. */
  status: TxStatus = 'I';
  /** The node's last message was ReadyForQuery and nothing was written since: a Sync now would only repeat it. */
  atRest = false;
  /** A COPY FROM STDIN is open on the node (its CopyInResponse came, its ReadyForQuery not yet). */
  copying = false;
  /**
   * The user this connection logged in as when that is vecshard's own (it can go back to it with SET SESSION
   * AUTHORIZATION); undefined when it logged in as a client's role (pass-through).
   */
  serviceUser: string | undefined;
  /** What the node's backend session holds for whoever uses this connection (statements, settings). */
  readonly backend = new BackendState();
  broken = false;

  #frames: Buffer[] = [];
  #head = 0;
  #waiter: { resolve: (f: Buffer) => void; reject: (e: Error) => void } | undefined;
  /** A reader taking every frame up to ReadyForQuery as it arrives (readUntilReady), with no promise per frame. */
  #pipe: { onFrame: (f: Buffer) => void; resolve: (s: TxStatus) => void; reject: (e: Error) => void } | undefined;
  #failure: Error | undefined;
  /** When the node last sent a frame or was written to (performance.now()): a reader waiting long past it is stalled. */
  lastActivity = performance.now();
  /** Longest a reader waits with nothing from the node before the connection is given up (0: no limit). */
  readTimeoutMs = 0;
  #deadline: NodeJS.Timeout | undefined;

  constructor(
    readonly nodeId: number,
    readonly database: string,
  ) {}

  /** Queues frontend messages for the node, in order (implementations clear atRest). */
  abstract write(data: Buffer): void;
  /** Resolves once the bytes written so far are mostly handed to the node (backpressure for long COPYs). */
  drained(): Promise<void> {
    return Promise.resolve();
  }
  /** Sends a COPY ... FROM STDIN query; resolves with the frames up to CopyInResponse, or an error through RFQ. */
  abstract startCopyIn(query: Buffer): Promise<Buffer[]>;
  /** Much written and not yet taken by the node: the writer should wait for drained(). */
  get congested(): boolean {
    return false;
  }
  /** Reading from the node is paused (its client reads slowly, see ClientSession.throttle). */
  paused = false;
  /** Stops reading the node's answers for now; TCP holds the node back. Embedded nodes answer whole: no-op. */
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
  }
  /** Asks the node to cancel what this session is running. */
  abstract cancel(): Promise<void>;
  abstract close(): void;

  /** No frame is waiting to be read and nobody is reading: the connection can go to another session. */
  get quiet(): boolean {
    return !this.#waiter && !this.#pipe && this.#head >= this.#frames.length;
  }

  /** A reader is waiting for the node to answer. */
  get waiting(): boolean {
    return !!this.#waiter || !!this.#pipe;
  }

  /** Gives the connection up: whoever waits on it gets `reason` as a connection failure (the node stopped answering). */
  abort(reason: string): void {
    this.fail(new PgError({ severity: 'ERROR', code: '08006', message: `vecshard: node ${this.nodeId} stopped answering`, detail: reason }));
    this.close();
  }

  #armDeadline(): void {
    if (!this.readTimeoutMs || this.#deadline) return;
    const check = () => {
      this.#deadline = undefined;
      if (!this.waiting || this.broken) return;
      const silent = performance.now() - this.lastActivity;
      if (silent >= this.readTimeoutMs) return this.abort(`no answer within ${this.readTimeoutMs} ms (pool.readTimeoutMs)`);
      this.#deadline = setTimeout(check, this.readTimeoutMs - silent);
      this.#deadline.unref?.();
    };
    this.#deadline = setTimeout(check, this.readTimeoutMs);
    this.#deadline.unref?.();
  }

  /** The next backend frame. */
  read(): Promise<Buffer> {
    if (this.#head < this.#frames.length) return Promise.resolve(this.#take());
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter || this.#pipe) return Promise.reject(new Error(`vecshard bug: two readers on one connection to node ${this.nodeId}`));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.#armDeadline();
    });
  }

  /** Reads frames until ReadyForQuery, handing each to `onFrame`. */
  readUntilReady(onFrame: (f: Buffer) => void): Promise<TxStatus> {
    try {
      while (this.#head < this.#frames.length) {
        const f = this.#take();
        onFrame(f);
        if (f[0] === 0x5a) return Promise.resolve(readyStatus(f));
      }
    } catch (e) {
      return Promise.reject(e);
    }
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#waiter || this.#pipe) return Promise.reject(new Error(`vecshard bug: two readers on one connection to node ${this.nodeId}`));
    return new Promise((resolve, reject) => {
      this.#pipe = { onFrame, resolve, reject };
      this.#armDeadline();
    });
  }

  /** One frame from the node; the caller sets lastActivity once per read (a clock read per frame showed in P1). */
  protected deliver(frame: Buffer): void {
    const t = frame[0];
    if (t === 0x53) {
      const [k, v] = readParameterStatus(frame);
      this.params.set(k, v);
    } else if (t === 0x5a) {
      this.status = readyStatus(frame);
      this.atRest = true;
      this.copying = false;
    } else if (deallocatesAll(frame)) {
      // A client's DISCARD ALL or DEALLOCATE ALL removed every prepared statement on this session.
      this.backend.forgetStatements();
    }
    const pipe = this.#pipe;
    if (pipe) {
      if (t === 0x5a) this.#pipe = undefined;
      try {
        pipe.onFrame(frame);
      } catch (e) {
        this.#pipe = undefined;
        return pipe.reject(e as Error);
      }
      if (t === 0x5a) pipe.resolve(this.status);
      return;
    }
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(frame);
    } else this.#frames.push(frame);
  }

  protected fail(err: Error): void {
    if (this.#failure) return;
    this.broken = true;
    this.#failure = err;
    if (this.#pipe) {
      const p = this.#pipe;
      this.#pipe = undefined;
      p.reject(err);
    }
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.reject(err);
    }
  }

  #take(): Buffer {
    const f = this.#frames[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#frames.length) {
      this.#frames = this.#frames.slice(this.#head);
      this.#head = 0;
    }
    return f;
  }
}

/** Whether a backend frame is the CommandComplete of DISCARD ALL or DEALLOCATE ALL. */
export function deallocatesAll(frame: Buffer): boolean {
  if (frame[0] !== 0x43 || frame[5] !== 0x44) return false;
  const tag = frame.toString('latin1', 5, frame.length - 1);
  return tag === 'DISCARD ALL' || tag === 'DEALLOCATE ALL';
}

