// Catalog changes made through other coordinators: every change to a catalog copy bumps its version and sends
// NOTIFY vecshard_catalog in the same transaction (BUMP_VERSION), so the notification goes out when the change
// commits. Each coordinator listens, per database it serves, on one node with a current copy; a notification drops
// its cached catalog (the next statement loads the new one) and whatever it keeps that was made from the old one.
// A lost listening connection is made again, and the catalog is dropped then too: changes may have been missed.
import type { Logger } from 'pino';
import type { Cluster } from '../shards/cluster.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { runQuery } from '../shards/internal-query.ts';

export const CATALOG_CHANNEL = 'vecshard_catalog';

interface Watch {
  stopped: boolean;
  conn?: NodeConnection;
}

const watches = new WeakMap<Cluster, Map<string, Watch>>();
let onChange: (database: string) => void = () => {};

/** What else to forget when a database's catalog changes (prepared shard statements, statement descriptions). */
export function onCatalogChange(fn: (database: string) => void): void {
  onChange = fn;
}

function changed(cluster: Cluster, database: string): void {
  cluster.invalidateCatalog(database);
  onChange(database);
}

/** Starts listening for `database` if nobody does yet. Embedded nodes have one coordinator: nothing to hear. */
export function watchCatalog(cluster: Cluster, database: string, log: Logger): void {
  if (!cluster.nodes.every((n) => n.kind === 'postgres')) return;
  let m = watches.get(cluster);
  if (!m) watches.set(cluster, (m = new Map()));
  if (m.has(database)) return;
  const w: Watch = { stopped: false };
  m.set(database, w);
  void listen(cluster, database, log, w);
}

/** Stops listening, for one database (about to be dropped: the listening session would hold it) or all. */
export function stopWatching(cluster: Cluster, database?: string): void {
  const m = watches.get(cluster);
  for (const [db, w] of m ?? []) {
    if (database !== undefined && db !== database) continue;
    w.stopped = true;
    w.conn?.close();
    m!.delete(db);
    // Loaded again, it is watched again.
    cluster.invalidateCatalog(db);
  }
}

async function listen(cluster: Cluster, database: string, log: Logger, w: Watch): Promise<void> {
  let first = true;
  while (!w.stopped) {
    const node = (cluster.catalogNodes(database) ?? cluster.members()).find((n) => cluster.isUp(n));
    try {
      if (node === undefined) throw new Error('no node with a current catalog copy answers');
      w.conn = await cluster.pool(node, database).connect();
      w.conn.readTimeoutMs = 0; // it waits in silence on purpose
      await runQuery(w.conn, `LISTEN ${CATALOG_CHANNEL}`);
      // The catalog was just loaded (first time), or changes may have come while nobody listened.
      if (!first) changed(cluster, database);
      first = false;
      for (;;) if ((await w.conn.read())[0] === 0x41) changed(cluster, database);
    } catch (e) {
      w.conn?.close();
      w.conn = undefined;
      if (w.stopped) return;
      log.debug({ err: e, database }, 'listening for catalog changes failed; trying again');
      changed(cluster, database);
      first = false;
      await new Promise((r) => setTimeout(r, 1000).unref());
    }
  }
}
