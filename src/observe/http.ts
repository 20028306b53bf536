// The coordinator's HTTP port: Prometheus metrics, a health check for load balancers, the status page and the
// JSON it draws from.
import http from 'node:http';
import type { Logger } from 'pino';
import type { Cluster } from '../shards/cluster.ts';
import { STATUS_PAGE } from './status-page.ts';
import crypto from 'node:crypto';

export interface HttpOptions {
  host: string;
  port: number;
  /** Host names served besides localhost and `host`. */
  allowedHosts?: string[];
  /** Bearer token for /metrics and /api/status. */
  token?: string;
}

/**
 * Whether a request's Host header names this server: a page on another site that rebinds its name to 127.0.0.1
 * sends its own name, and is refused (else it could read node addresses and table names from /api/status).
 */
function hostAllowed(header: string | undefined, options: HttpOptions): boolean {
  if (!header) return false;
  const name = header.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const own = ['localhost', '127.0.0.1', '::1', ...(['0.0.0.0', '::'].includes(options.host) ? [] : [options.host.toLowerCase()])];
  return own.includes(name) || name.endsWith('.localhost') || (options.allowedHosts ?? []).some((h) => h.toLowerCase() === name);
}

export interface StatusSnapshot {
  time: number;
  clients: number;
  nodes: Array<{ id: number; kind: string; address: string; up: boolean; removed: boolean }>;
  databases: Array<{
    name: string;
    tables: Array<{ schema: string; name: string; method: string; column: string | null; shards: Array<{ index: number; name: string; nodes: number[] }> }>;
  }>;
  /** The last 60 seconds: statements per second and their mean and max latency. */
  seconds: Array<{ t: number; count: number; meanMs: number | null; maxMs: number }>;
}

export function statusSnapshot(cluster: Cluster, clients: number): StatusSnapshot {
  return {
    time: Date.now(),
    clients,
    nodes: cluster.nodes.map((n, id) => ({
      id,
      kind: n.kind === 'postgres' ? 'postgres' : 'embedded',
      address: n.kind === 'postgres' ? `${n.host}:${n.port}` : n.dataDir,
      up: cluster.isUp(id),
      removed: !!n.removed,
    })),
    databases: cluster.loadedCatalogs().map(([name, cat]) => ({
      name,
      tables: [...cat.tables.values()].map((t) => ({
        schema: t.schema,
        name: t.name,
        method: t.method,
        column: t.distColumn,
        shards: t.shards.map((s) => ({ index: s.index, name: s.name, nodes: s.nodes })),
      })),
    })),
    seconds: cluster.metrics.recentSeconds(60).map((b) => ({ t: b.t, count: b.count, meanMs: b.timed ? b.totalMs / b.timed : null, maxMs: b.maxMs })),
  };
}

function tokenMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length === want.length && crypto.timingSafeEqual(given, want);
}

export async function startHttp(options: HttpOptions, cluster: Cluster, clients: () => number, log: Logger): Promise<{ port: number; close(): Promise<void> }> {
  cluster.metrics.gauges = {
    pools: () => cluster.poolStats(),
    nodes: () => cluster.members().map((n) => ({ node: n, up: cluster.isUp(n) })),
    placements: () =>
      cluster.loadedCatalogs().flatMap(([database, cat]) => {
        let active = 0;
        let unavailable = 0;
        for (const t of cat.tables.values()) for (const s of t.shards) for (const n of s.nodes) cluster.isUp(n) ? active++ : unavailable++;
        return [{ database, state: 'active', count: active }, { database, state: 'on_down_node', count: unavailable }];
      }),
    clients,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const reply = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, 'text/plain', 'method not allowed\n');
    if (!hostAllowed(req.headers.host, options)) return reply(403, 'text/plain', 'host not allowed: add it to http.allowedHosts in the config\n');
    const guarded = url.pathname === '/metrics' || url.pathname === '/api/status';
    if (guarded && options.token && !tokenMatches(req.headers.authorization, options.token)) {
      res.setHeader('www-authenticate', 'Bearer');
      return reply(401, 'text/plain', 'a bearer token is needed (http.token in the config)\n');
    }
    switch (url.pathname) {
      case '/metrics':
        cluster.metrics.text().then(
          (text) => reply(200, cluster.metrics.registry.contentType, text),
          (err) => {
            log.error({ err }, 'metrics failed');
            reply(500, 'text/plain', 'metrics failed\n');
          },
        );
        return;
      case '/healthz': {
        // Serving needs at least one node that answers; a load balancer should stop sending clients otherwise.
        const up = cluster.members().filter((n) => cluster.isUp(n));
        const ok = up.length > 0;
        return reply(ok ? 200 : 503, 'application/json', JSON.stringify({ status: ok ? 'ok' : 'no node answers', nodesUp: up.length, nodes: cluster.members().length }) + '\n');
      }
      case '/api/status':
        return reply(200, 'application/json', JSON.stringify(statusSnapshot(cluster, clients())));
      case '/':
        return reply(200, 'text/html; charset=utf-8', STATUS_PAGE);
      default:
        return reply(404, 'text/plain', 'not found: try /, /metrics, /healthz or /api/status\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
