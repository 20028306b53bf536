// The coordinator's configuration: a JSON file for real clusters, or defaults for the embedded nodes.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { NodeSpec } from './shards/cluster.ts';
import { parseNodeUrl, type PgNodeAddress } from './shards/pg-node.ts';
import type { ServerOptions } from './wire/server.ts';

const nodeUrl = z
  .string()
  .refine((s) => /^postgres(ql)?:\/\//.test(s), 'must be a connection string like postgres://user:password@host:5432');

const schema = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(6432),
        // Listening beyond this machine with auth.method "trust" lets anyone in; it must be asked for by name.
        allowTrust: z.boolean().default(false),
      })
      .strict()
      .default({}),
    // Metrics (/metrics), health (/healthz) and the status page (/). null turns it off.
    http: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(6480),
        // Host names a browser may use to reach it besides localhost and `host` (against DNS rebinding).
        allowedHosts: z.array(z.string().min(1)).default([]),
        // When set, /metrics and /api/status want "Authorization: Bearer <token>".
        token: z.string().min(16, 'http.token must be at least 16 characters').optional(),
      })
      .strict()
      .nullable()
      .default({}),
    // Statements slower than this many milliseconds are logged with their distributed plan (0: every statement).
    slowQueryMs: z.number().min(0).default(1000),
    auth: z
      .discriminatedUnion('method', [
        z.object({ method: z.literal('trust') }).strict(),
        z
          .object({
            method: z.literal('scram-sha-256'),
            // Fixed users, by password; they work on the nodes as the role of the same name.
            users: z.record(z.string().min(1), z.string().min(1, 'must be a non-empty password')).default({}),
            // Any role of the nodes, by its own password: its SCRAM verifier is read from the nodes (authQuery,
            // $1 the role name) and vecshard logs in to every node as that role.
            passthrough: z.boolean().default(false),
            authQuery: z.string().min(1).includes('$1', { message: 'must use $1 for the role name' }).optional(),
          })
          .strict(),
      ])
      .default({ method: 'trust' }),
    tls: z.object({ certFile: z.string().min(1), keyFile: z.string().min(1) }).strict().optional(),
    nodes: z
      .array(z.union([nodeUrl, z.object({ url: nodeUrl, poolSize: z.number().int().min(1).max(10000).optional(), removed: z.boolean().optional() }).strict()]))
      .min(1, 'must name at least one node')
      .optional(),
    pool: z
      .object({
        size: z.number().int().min(1).max(10000).default(20),
        connectTimeoutMs: z.number().int().min(1).default(5000),
        acquireTimeoutMs: z.number().int().min(1).default(30000),
        healthCheckIntervalMs: z.number().int().min(50).default(1000),
        // A health check that gets no answer in this time marks the node down, and statements waiting on it in
        // silence that long are ended (reads go to another copy).
        healthCheckTimeoutMs: z.number().int().min(50).default(2000),
        // Longest a statement waits with nothing from a node before its connection is given up; 0: no limit
        // (long statements are the node's statement_timeout's business; the health check ends silent waits).
        readTimeoutMs: z.number().int().min(0).default(0),
      })
      .strict()
      .default({}),
    embedded: z
      .object({
        dataDir: z.string().min(1).default('./.vecshard'),
        nodes: z.number().int().min(1).max(64).default(3),
      })
      .strict()
      .default({}),
    // Byte limits on what a client sends (docs/operations.md lists every limit).
    limits: z
      .object({
        maxMessageBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(256 * 1024 * 1024),
        maxCopyLineBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
      })
      .strict()
      .default({}),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    // How long a coordinator's lease lasts unrenewed (renewed every 5 s): another coordinator settles its prepared
    // transactions only after that.
    coordinatorLeaseMs: z.number().int().min(1000).default(30_000),
  })
  .strict();

export type RawConfig = z.input<typeof schema>;

export interface Config {
  server: ServerOptions;
  nodes: NodeSpec[];
  connectTimeoutMs: number;
  acquireTimeoutMs: number;
  healthCheckIntervalMs: number;
  healthCheckTimeoutMs: number;
  readTimeoutMs: number;
  limits: { maxMessageBytes: number; maxCopyLineBytes: number };
  logLevel: string;
  coordinatorLeaseMs: number;
  /** Where the HTTP port (metrics, health, status page) listens; null when off. */
  http: { host: string; port: number; allowedHosts: string[]; token?: string } | null;
  /** Where embedded nodes keep their data, when the nodes are embedded. */
  embeddedDir?: string;
  /** The file the config came from: nodes added or removed at run time are written back to it. */
  configFile?: string;
}

/** A file in an embedded node's folder that says the node was removed. */
export const REMOVED_MARKER = 'REMOVED';

/** Writes the node list back after vecshard.add_node / remove_node, so a restart keeps it (ids are positions). */
export function saveNodes(config: Config, nodes: NodeSpec[]): void {
  if (config.embeddedDir) {
    nodes.forEach((n, i) => {
      if (n.kind === 'pglite' && n.removed) {
        fs.mkdirSync(n.dataDir, { recursive: true });
        fs.writeFileSync(path.join(n.dataDir, REMOVED_MARKER), 'removed with vecshard.remove_node\n');
      }
    });
    return;
  }
  if (!config.configFile) return;
  const raw = JSON.parse(fs.readFileSync(config.configFile, 'utf8'));
  const listed: unknown[] = raw.nodes ?? [];
  raw.nodes = nodes.map((n, i) => {
    const old = listed[i];
    const url = n.kind === 'postgres' ? n.url : undefined;
    if (!n.removed) return old ?? url;
    const base = typeof old === 'object' && old !== null ? old : { url: typeof old === 'string' ? old : url };
    return { ...base, removed: true };
  });
  fs.writeFileSync(config.configFile, JSON.stringify(raw, null, 2) + '\n');
}

export class ConfigError extends Error {}

/** Validates a config object; the error names each wrong field and what is wrong with it. */
export function parseConfig(raw: unknown, baseDir = process.cwd()): Config {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const lines = r.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = r.data;
  const loopback = ['localhost', '127.0.0.1', '::1'].includes(c.listen.host) || c.listen.host.startsWith('127.');
  if (c.auth.method === 'trust' && !loopback && !c.listen.allowTrust) {
    throw new ConfigError(
      `invalid configuration:\n  listen.host: "${c.listen.host}" reaches beyond this machine and auth.method is "trust", so anyone who can connect is let in` +
        '\n  use auth.method "scram-sha-256" with auth.users, or set listen.allowTrust to true if that is what you want',
    );
  }
  if (c.auth.method === 'scram-sha-256' && !c.auth.passthrough && !Object.keys(c.auth.users).length) {
    throw new ConfigError('invalid configuration:\n  auth.users: must name at least one user (or set auth.passthrough to true)');
  }
  if (c.tls) {
    for (const f of ['certFile', 'keyFile'] as const) {
      const file = path.resolve(baseDir, c.tls[f]);
      if (!fs.existsSync(file)) throw new ConfigError(`invalid configuration:\n  tls.${f}: file ${file} does not exist`);
      c.tls[f] = file;
    }
  }
  let nodes: NodeSpec[];
  let embeddedDir: string | undefined;
  if (c.nodes) {
    nodes = c.nodes.map((n, i) => {
      const url = typeof n === 'string' ? n : n.url;
      let address: PgNodeAddress;
      try {
        address = parseNodeUrl(url);
      } catch (e) {
        throw new ConfigError(`invalid configuration:\n  nodes.${i}: ${(e as Error).message}`);
      }
      const removed = typeof n !== 'string' && n.removed ? { removed: true } : {};
      return { kind: 'postgres' as const, ...address, url, poolSize: (typeof n === 'string' ? undefined : n.poolSize) ?? c.pool.size, ...removed };
    });
  } else {
    embeddedDir = path.resolve(baseDir, c.embedded.dataDir);
    // Nodes added with vecshard.add_node() are folders beyond the configured count; removed ones carry a marker.
    let count = c.embedded.nodes;
    while (fs.existsSync(path.join(embeddedDir, `node-${count}`))) count++;
    nodes = Array.from({ length: count }, (_, i) => {
      const dataDir = path.join(embeddedDir!, `node-${i}`);
      return { kind: 'pglite' as const, dataDir, ...(fs.existsSync(path.join(dataDir, REMOVED_MARKER)) ? { removed: true } : {}) };
    });
  }
  return {
    server: { host: c.listen.host, port: c.listen.port, auth: c.auth, tls: c.tls, slowQueryMs: c.slowQueryMs },
    http: c.http,
    nodes,
    connectTimeoutMs: c.pool.connectTimeoutMs,
    acquireTimeoutMs: c.pool.acquireTimeoutMs,
    healthCheckIntervalMs: c.pool.healthCheckIntervalMs,
    healthCheckTimeoutMs: c.pool.healthCheckTimeoutMs,
    readTimeoutMs: c.pool.readTimeoutMs,
    limits: c.limits,
    logLevel: c.logLevel,
    coordinatorLeaseMs: c.coordinatorLeaseMs,
    embeddedDir,
  };
}

export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  return { ...parseConfig(raw, path.dirname(path.resolve(file))), configFile: path.resolve(file) };
}
