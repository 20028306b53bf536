// Wires the parts together: parser, nodes, wire server.
import pino, { type Logger } from 'pino';
import { loadParser } from './sql/parse.ts';
import { Cluster } from './shards/cluster.ts';
import { Server } from './wire/server.ts';
import type { Config } from './config.ts';

export interface Coordinator {
  server: Server;
  cluster: Cluster;
  host: string;
  port: number;
  log: Logger;
  close(): Promise<void>;
}

export function createLogger(level: string): Logger {
  return pino({ level, redact: { paths: ['password', '*.password', 'auth.users', 'config.auth'], censor: '[redacted]' } }, pino.destination(2));
}

export async function startCoordinator(config: Config, log = createLogger(config.logLevel)): Promise<Coordinator> {
  await loadParser();
  const cluster = new Cluster(config.nodes, { connectTimeoutMs: config.connectTimeoutMs, acquireTimeoutMs: config.acquireTimeoutMs });
  const server = new Server(config.server, cluster, log);
  const addr = await server.listen();
  log.info({ host: addr.address, port: addr.port, nodes: config.nodes.length }, 'vecshard listening');
  return {
    server,
    cluster,
    host: addr.address,
    port: addr.port,
    log,
    async close() {
      await server.close();
      await cluster.close();
    },
  };
}
