// ORDER BY across shards, merged on the coordinator: every shard's rows come sorted from a portal of their own, read
// a batch at a time, and a k-way merge on the sort keys (extra columns in binary, compared as Postgres compares
// them) sends the client's rows on as it goes. The coordinator holds one batch per shard, not the answer; LIMIT
// stops the reading early. Keys the coordinator cannot order (text under a collation) are merged on the home node.
import * as be from '../protocol/backend.ts';
import * as fe from '../protocol/frontend.ts';
import type { SortedMerge } from '../planner/sort.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import type { ShardTask } from '../planner/types.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { isLost, ShardError } from '../errors.ts';
import { compareKeys, keyCompare, type KeyCompare } from './sort-keys.ts';
import { cellOffsets, stripColumns, stripDescription } from './gather.ts';
import { bindFor, shardGeneration } from './shard-tasks.ts';
import { placeReads } from './placement.ts';
import type { RunContext } from './context.ts';
import type { Sink } from './sink.ts';

/** Rows asked of a shard at a time. */
const BATCH = 1000;

interface Cursor {
  task: ShardTask;
  portal: string;
  conn: NodeConnection;
  rows: Buffer[];
  keys: Array<Array<Buffer | null>>;
  pos: number;
  done: boolean;
}

/** Column types of a shard statement, by its text: asked of a node once (Describe), kept per catalog generation. */
const described = new Map<string, number[]>();

async function columnTypes(conn: NodeConnection, task: ShardTask): Promise<number[]> {
  const key = `${shardGeneration()}\0${task.params.types.join(',')}\0${task.sql}`;
  const known = described.get(key);
  if (known) return known;
  conn.backend.unnamedOwner = undefined;
  conn.write(Buffer.concat([fe.parse({ name: '', sql: task.sql, paramTypes: task.params.types }), fe.describe({ kind: 'S', name: '' }), fe.sync()]));
  let types: number[] = [];
  let error: ShardError | undefined;
  await conn.readUntilReady((f) => {
    if (f[0] === 0x54) types = be.readRowDescription(f).map((c) => c.typeOid);
    else if (f[0] === 0x45) error ??= new ShardError(be.readErrorFields(f), task);
  });
  if (error) throw error;
  if (described.size >= 2000) described.delete(described.keys().next().value!);
  described.set(key, types);
  return types;
}

/** How to merge: each key's comparator and the formats to ask for; undefined when the coordinator cannot. */
export async function mergeable(merge: SortedMerge, client: number[], conn: NodeConnection): Promise<{ cmps: KeyCompare[]; formats: number[] } | undefined> {
  const types = await columnTypes(conn, merge.tasks[0]);
  const n = merge.keys.length;
  const visible = types.length - n;
  const cmps = types.slice(-n).map(keyCompare);
  // The client's formats for its columns (none: text; one for all; one each), binary for the keys.
  if (visible <= 0 || cmps.some((c) => !c) || (client.length > 1 && client.length !== visible)) return undefined;
  const own = client.length > 1 ? client : new Array<number>(visible).fill(client[0] ?? 0);
  return { cmps: cmps as KeyCompare[], formats: [...own, ...new Array<number>(n).fill(1)] };
}

/** The merge over open shard portals; `next` hands out merged rows (keys stripped), as many as asked. */
export class SortedMerger {
  #cursors: Cursor[] = [];
  #live: Cursor[] = [];
  #conns = new Map<NodeConnection, Cursor[]>();
  /** One conversation at a time per node connection (a node's shards share it). */
  #turns = new Map<NodeConnection, Promise<unknown>>();
  #merged = 0;
  /** Rows handed out (after OFFSET). */
  sent = 0;
  /** The node whose failure ended the merge. */
  failed: number | undefined;
  description: Buffer | undefined;

  constructor(
    readonly merge: SortedMerge,
    readonly cmps: KeyCompare[],
    readonly formats: number[],
    readonly notices: (f: Buffer) => void,
    /** Shard portals are named this and their number (unique inside a client's transaction, where they outlast Sync). */
    readonly portalPrefix = 'vs_merge',
  ) {}

  get #want(): number {
    return this.merge.limit === Infinity ? Infinity : this.merge.limit + this.merge.offset;
  }

  #onConn<T>(conn: NodeConnection, fn: () => Promise<T>): Promise<T> {
    const p = (this.#turns.get(conn) ?? Promise.resolve()).then(fn).catch((e: unknown) => {
      this.failed ??= conn.nodeId;
      throw e;
    });
    this.#turns.set(conn, p.catch(() => {}));
    return p;
  }

  /** Binds every shard's statement to a portal of its own and reads a first batch of each: one write per node. */
  async open(placed: ShardTask[], conn: (nodeId: number) => Promise<NodeConnection>): Promise<void> {
    for (const [i, t] of placed.entries()) {
      const c = await conn(t.nodeId).catch((e: unknown) => {
        this.failed ??= t.nodeId;
        throw e;
      });
      const cur: Cursor = { task: t, portal: `${this.portalPrefix}_${i}`, conn: c, rows: [], keys: [], pos: 0, done: false };
      this.#cursors.push(cur);
      this.#conns.set(c, [...(this.#conns.get(c) ?? []), cur]);
    }
    const batch = Math.min(BATCH, this.#want);
    await Promise.all(
      [...this.#conns].map(([c, list]) =>
        this.#onConn(c, async () => {
          c.backend.unnamedOwner = undefined;
          const out: Buffer[] = [];
          // Settings statements (raising hnsw.ef_search for this transaction) go first, once per text.
          const settings = [...new Set(list.flatMap((cur) => cur.task.before ?? []))];
          for (const sql of settings) out.push(fe.parse({ name: '', sql, paramTypes: [] }), fe.bind({ portal: '', statement: '', rest: Buffer.from([0, 0, 0, 0, 0, 0]) }), fe.execute(''));
          for (const cur of list) {
            out.push(fe.parse({ name: '', sql: cur.task.sql, paramTypes: cur.task.params.types }), bindFor(cur.task, this.formats, '', cur.portal));
            if (cur === this.#cursors[0]) out.push(fe.describe({ kind: 'P', name: cur.portal }));
            out.push(fe.execute(cur.portal, batch));
          }
          out.push(fe.flush());
          c.write(Buffer.concat(out));
          // Their answers come first; their rows are not ours.
          for (let left = settings.length; left > 0; ) {
            const f = await c.read();
            if (f[0] === 0x43) left--;
            else if (f[0] === 0x45) throw new ShardError(be.readErrorFields(f), list[0].task);
          }
          for (const cur of list) await this.#read(cur);
        }),
      ),
    );
    this.#live = this.#cursors.filter((cur) => cur.rows.length);
  }

  /** Reads one Execute's answer into the cursor: its rows and their keys; done at CommandComplete. */
  async #read(c: Cursor): Promise<void> {
    const n = this.merge.keys.length;
    c.rows = [];
    c.keys = [];
    c.pos = 0;
    for (;;) {
      const f = await c.conn.read();
      switch (f[0]) {
        case 0x44: {
          c.rows.push(f);
          c.keys.push(cellOffsets(f).slice(-n).map((o) => (f.readInt32BE(o) < 0 ? null : f.subarray(o + 4, o + 4 + f.readInt32BE(o)))));
          break;
        }
        case 0x54:
          this.description ??= f;
          break;
        case 0x73: // PortalSuspended
          return;
        case 0x43:
        case 0x49:
          c.done = true;
          return;
        case 0x45:
          throw new ShardError(be.readErrorFields(f), c.task);
        case 0x4e:
          this.notices(f);
          break;
      }
    }
  }

  /** Whether rows remain to hand out. */
  get more(): boolean {
    return this.#merged < this.#want && this.#live.length > 0;
  }

  /**
   * Sends up to `n` merged rows with `send`; waits on `pause` every few hundred rows (the client's backpressure).
   * The next row is the least head among the shards (ties to the lower shard: the same input merges the same way).
   */
  async next(n: number, send: (f: Buffer) => void, pause?: () => Promise<void> | undefined): Promise<void> {
    const live = this.#live;
    const keys = this.merge.keys.length;
    for (let given = 0; given < n && this.more; ) {
      let best = 0;
      for (let j = 1; j < live.length; j++) if (compareKeys(live[j].keys[live[j].pos], live[best].keys[live[best].pos], this.merge.keys, this.cmps) < 0) best = j;
      const c = live[best];
      if (this.#merged++ >= this.merge.offset) {
        send(stripColumns(c.rows[c.pos], keys));
        given++;
        if (++this.sent % 256 === 0) await pause?.();
      }
      if (++c.pos < c.rows.length) continue;
      if (!c.done && this.#merged < this.#want) {
        await this.#onConn(c.conn, async () => {
          c.conn.write(Buffer.concat([fe.execute(c.portal, Math.min(BATCH, this.#want - this.#merged)), fe.flush()]));
          await this.#read(c);
        });
      }
      if (c.pos >= c.rows.length) live.splice(best, 1);
    }
  }

  /** Ends each node's part of the exchange with Sync (the portals stay: they are named, in the client's transaction). */
  async sync(): Promise<void> {
    await Promise.all(
      [...this.#conns.keys()].map((c) =>
        this.#onConn(c, async () => {
          c.write(fe.sync());
          await c.readUntilReady(() => {});
        }),
      ),
    );
  }

  /**
   * Closes the portals (inside the client's transaction they would outlive the statement) and ends each node's
   * implicit transaction; a node that failed skips everything up to the Sync.
   */
  async close(): Promise<void> {
    this.#live = [];
    await Promise.all(
      [...this.#conns].map(([c, list]) =>
        this.#onConn(c, async () => {
          if (c.broken) return;
          c.write(Buffer.concat([...list.map((cur) => fe.close({ kind: 'P', name: cur.portal })), fe.sync()]));
          await c.readUntilReady(() => {});
        }).catch(() => {}),
      ),
    );
    this.#conns.clear();
  }
}

/**
 * Runs `merge` to the end if the coordinator can order its keys; false when it cannot (the home node merges then).
 * A node lost before any row went out is left for the shards' other copies, as other reads are.
 */
export async function runSortedMerge(merge: SortedMerge, table: DistributedTable, ctx: RunContext, sink: Sink, resultFormats: number[], describe: boolean): Promise<boolean> {
  const first = placeReads(merge.tasks.slice(0, 1), table, ctx.cluster, 0)[0];
  const how = await mergeable(merge, resultFormats, await ctx.conn(first.nodeId));
  if (!how) return false;
  for (let attempt = 0; ; attempt++) {
    const m = new SortedMerger(merge, how.cmps, how.formats, (f) => sink.send(f));
    try {
      await m.open(placeReads(merge.tasks, table, ctx.cluster, ctx.nextTurn()), ctx.conn);
      if (describe && m.description) sink.send(stripDescription(m.description, merge.keys.length));
      await m.next(Infinity, (f) => sink.send(f), () => (sink.congested?.() ? sink.drained!() : undefined));
      sink.send(be.commandComplete(`SELECT ${m.sent}`));
      return true;
    } catch (e) {
      if (!isLost(e) || m.sent || ctx.inTransaction || attempt >= 2 || m.failed === undefined) throw e;
      ctx.cluster.markDown(m.failed);
      await ctx.dropConn(m.failed);
    } finally {
      await m.close();
    }
  }
}
