// Starts a vecshard coordinator for a test, on a free port, in front of real or embedded nodes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig, type RawConfig } from '../../src/config.ts';
import { startCoordinator, createLogger, type Coordinator } from '../../src/coordinator.ts';
import type { PgServer } from './pg-nodes.ts';

export interface TestCoordinator extends Coordinator {
  url(database?: string): string;
  /** node-postgres / postgres.js connection options. */
  options(database?: string): { host: string; port: number; user: string; password?: string; database: string };
}

export async function startTestCoordinator(
  nodes: { servers: PgServer[] } | { embedded: number; dataDir?: string },
  extra: Partial<RawConfig> = {},
): Promise<TestCoordinator & { dataDir?: string }> {
  let raw: RawConfig;
  let dataDir: string | undefined;
  if ('servers' in nodes) raw = { nodes: nodes.servers.map((s) => s.url), ...extra };
  else {
    dataDir = nodes.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-embedded-'));
    raw = { embedded: { dataDir, nodes: nodes.embedded }, ...extra };
  }
  raw.listen = { host: '127.0.0.1', port: 0 };
  if (raw.http !== null) raw.http = { host: '127.0.0.1', port: 0, ...raw.http };
  const config = parseConfig(raw);
  const c = await startCoordinator(config, createLogger(process.env.VECSHARD_TEST_LOG ?? 'silent'));
  const user = 'postgres';
  const password = config.server.auth.method === 'scram-sha-256' ? config.server.auth.users[user] : undefined;
  return Object.assign(c, {
    dataDir,
    url: (database = 'postgres') => `postgres://${user}${password ? ':' + password : ''}@127.0.0.1:${c.port}/${database}`,
    options: (database = 'postgres') => ({ host: '127.0.0.1', port: c.port, user, password, database }),
  });
}

/** Closes a test coordinator and removes its embedded nodes' data folder, if it made one. */
export async function stopTestCoordinator(c: (TestCoordinator & { dataDir?: string }) | undefined): Promise<void> {
  await c?.close();
  if (c?.dataDir) fs.rmSync(c.dataDir, { recursive: true, force: true });
}

/** A node-postgres client of the test coordinator, connected as `user` (with `password` when it asks for one). */
export async function connectAs(c: TestCoordinator, user: string, password?: string): Promise<import('pg').Client> {
  const { default: pg } = await import('pg');
  const cl = new pg.Client({ ...c.options(), user, password });
  await cl.connect();
  return cl;
}
