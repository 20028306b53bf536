// Wires the parts together: parser, nodes, wire server.
import pino, { type Logger } from 'pino';
import { loadParser } from './sql/parse.ts';
import { setLimits } from './limits.ts';
import { Cluster } from './shards/cluster.ts';
import { Server } from './wire/server.ts';
import path from 'node:path';
import { repairDatabase, settlePrepared, settleUnfinishedCommits } from './operations/repair.ts';
import { useCommitJournal } from './executor/commit-journal.ts';
import { setLease } from './executor/transaction.ts';
import { shardStatementsStale } from './executor/shard-tasks.ts';
import { onCatalogChange, stopWatching } from './metadata/catalog-watch.ts';

/** How often prepared transactions left behind are looked for. */
const SETTLE_INTERVAL_MS = 5000;
import { saveNodes, type Config } from './config.ts';
import { startHttp } from './observe/http.ts';

export interface Coordinator {
  server: Server;
  cluster: Cluster;
  host: string;
  port: number;
  /** The HTTP port (metrics, health, status page), when on. */
  httpPort: number | undefined;
  log: Logger;
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: ['password', '*.password', 'auth.users', 'config.auth'], censor: '[redacted]' } }, pino.destination(2));
}

export async function startCoordinator(config: Config, log = createLogger(config.logLevel)): Promise<Coordinator> {
  await loadParser();
  setLimits(config.limits);
  setLease(config.coordinatorLeaseMs);
  // Another coordinator changed a table: statements prepared and described against the old one are not used again.
  onCatalogChange(() => shardStatementsStale());
  const cluster = new Cluster(config.nodes, { connectTimeoutMs: config.connectTimeoutMs, acquireTimeoutMs: config.acquireTimeoutMs, healthCheckTimeoutMs: config.healthCheckTimeoutMs, readTimeoutMs: config.readTimeoutMs });
  const server = new Server(config.server, cluster, log);
  if (config.embeddedDir) {
    useCommitJournal(path.join(config.embeddedDir, 'commits.journal'));
    await settleUnfinishedCommits(cluster, log);
  } else useCommitJournal(undefined);
  // A node that answers again gets its inactive shard copies rebuilt, in every database vecshard has served.
  cluster.onNodeUp = (nodeId) => {
    log.warn({ node: nodeId }, 'node is up again; repairing its shard copies');
    for (const db of cluster.databases()) void repairDatabase(cluster, db, log).catch((err) => log.error({ err, db }, 'repair failed'));
  };
  cluster.onMembershipChange = () => {
    try {
      saveNodes(config, cluster.nodes);
    } catch (err) {
      log.error({ err }, 'could not write the node list back to the config file; add the change there by hand');
    }
  };
  cluster.health.start(config.healthCheckIntervalMs);
  // Prepared transactions whose coordinator lost track of them (an answer lost while committing, a node down at
  // the time) are settled by their commit records as soon as the nodes concerned answer.
  const settle = setInterval(() => {
    for (const db of cluster.databases()) void settlePrepared(cluster, db, log).catch((err) => log.debug({ err, db }, 'settling prepared transactions failed'));
  }, SETTLE_INTERVAL_MS).unref();
  const addr = await server.listen();
  const web = config.http ? await startHttp(config.http, cluster, () => server.sessions, log) : undefined;
  log.info({ host: addr.address, port: addr.port, http: web?.port, nodes: config.nodes.length }, 'vecshard listening');
  return {
    server,
    cluster,
    host: addr.address,
    port: addr.port,
    httpPort: web?.port,
    log,
    async close() {
      clearInterval(settle);
      stopWatching(cluster);
      await web?.close();
      await server.close();
      await cluster.close();
    },
  };
}
