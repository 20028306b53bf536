// A COPY into a distributed table, streamed: each shard copy gets its own node connection with a transaction and
// a COPY open on it, and routed rows go out in batches while the client is still sending. Nodes ingest while the
// coordinator parses, and shards on one node ingest in parallel. The end commits every connection together
// (two-phase across them) or rolls all of them back.
import * as fe from '../protocol/frontend.ts';
import { readErrorFields } from '../protocol/backend.ts';
import { type NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { Login } from '../shards/login.ts';
import type { Cluster } from '../shards/cluster.ts';
import type { DistCopyIn } from './copy.ts';
import { BINARY_HEADER } from './copy-binary.ts';
import { commitDistributed, rollbackAll } from './transaction.ts';
import { copyDataFrames } from '../operations/distribute.ts';
import { PgError } from '../errors.ts';

/** Rows a shard collects before they are sent. */
const BATCH = 2000;

interface Stream {
  conn: NodeConnection;
  /** Set once the node refused the COPY's start; later rows for it are dropped and the error ends the COPY. */
  error?: PgError;
}

export class CopyStreams {
  readonly #streams = new Map<string, Promise<Stream>>();
  #finished = false;

  constructor(
    readonly cluster: Cluster,
    readonly database: string,
    readonly copy: DistCopyIn,
    /** The client's role: the rows are written as it, under its privileges. */
    readonly login: Login,
  ) {}

  /**
   * Whether streaming can serve this COPY: TCP nodes only (an embedded node is one session, one COPY at a time),
   * with room in each node's pool for a connection per shard copy and a few to spare for other clients.
   */
  static possible(cluster: Cluster, copy: DistCopyIn): boolean {
    const perNode = new Map<number, number>();
    for (const s of copy.plan.table.shards) for (const n of s.nodes) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    return [...perNode].every(([n, count]) => {
      const spec = cluster.nodes[n];
      return spec?.kind === 'postgres' && count <= spec.poolSize / 2;
    });
  }

  /** Sends every shard's rows that have reached a batch (all of them when `all`). */
  async send(all = false): Promise<void> {
    const ready = [...this.copy.perShard].filter(([, lines]) => lines.length >= (all ? 1 : BATCH));
    await Promise.all(
      ready.map(async ([index, lines]) => {
        this.copy.perShard.delete(index);
        const data = copyDataFrames(lines, !this.copy.binary);
        await Promise.all(
          this.copy.plan.table.shards[index].nodes.map(async (node) => {
            const s = await this.#open(index, node);
            if (s.error) return;
            s.conn.write(data);
            await s.conn.drained();
          }),
        );
      }),
    );
  }

  #open(index: number, node: number): Promise<Stream> {
    const key = `${index}@${node}`;
    let s = this.#streams.get(key);
    if (!s) {
      s = (async () => {
        const conn = await this.cluster.pool(node, this.database, this.login).acquire(this.login.role);
        const stream: Stream = { conn };
        await runQuery(conn, 'BEGIN');
        const first = await conn.startCopyIn(fe.query(this.copy.copySql(index)));
        if (first[first.length - 1][0] !== 0x47) {
          const e = first.find((f) => f[0] === 0x45);
          stream.error = new PgError(e ? readErrorFields(e) : { severity: 'ERROR', code: 'XX000', message: 'COPY did not start' });
        } else if (this.copy.binary) conn.write(fe.copyData(BINARY_HEADER));
        return stream;
      })();
      this.#streams.set(key, s);
    }
    return s;
  }

  /**
   * Ends every COPY; with `commit`, commits them all as one transaction (the commit record on `home`), otherwise
   * or after any error rolls all of them back. Returns the connections to their pools.
   */
  async finish(home: () => Promise<NodeConnection>, commit: boolean): Promise<void> {
    if (this.#finished) return; // the connections went back to their pools the first time
    this.#finished = true;
    const streams = await Promise.allSettled(this.#streams.values());
    const open = streams.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    let failure: unknown = streams.find((r) => r.status === 'rejected')?.reason ?? open.find((s) => s.error)?.error;
    try {
      await Promise.all(
        open.filter((s) => !s.error).map(async (s) => {
          s.conn.write(commit && !failure ? fe.copyDone() : fe.copyFail('vecshard: the COPY was abandoned'));
          let error: Buffer | undefined;
          await s.conn.readUntilReady((f) => {
            if (f[0] === 0x45) error ??= f;
          });
          if (error && commit) failure ??= new PgError(readErrorFields(error));
        }),
      );
      if (commit && !failure) {
        await commitDistributed(await home(), open.map((s) => s.conn), false);
        return;
      }
      await rollbackAll(open.map((s) => s.conn));
      if (failure) throw failure;
    } catch (e) {
      await rollbackAll(open.map((s) => s.conn));
      throw e;
    } finally {
      for (const s of open) await this.cluster.pool(s.conn.nodeId, s.conn.database, this.login).release(s.conn, s.conn.status === 'I' && s.conn.quiet);
    }
  }
}
