// The HTTP port: Prometheus metrics, /healthz, and the status page drawn in a real headless Chromium; and the
// slow-query log with the distributed plan, read from a real `vecshard start` process.
import fs from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort, startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { startCli, waitForExit, within } from '../helpers/wait.ts';

const CHROMIUM = '/usr/bin/chromium';
let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let client: pg.Client;
let browser: Browser | undefined;

beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator(pgs, { pool: { size: 4, healthCheckIntervalMs: 200 } });
  client = new pg.Client(c.options());
  await client.connect();
  await client.query('CREATE TABLE docs (id int PRIMARY KEY, embedding vector(2))');
  await client.query("SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 2)");
  await client.query(`INSERT INTO docs VALUES ${Array.from({ length: 40 }, (_, i) => `(${i}, '[${Math.cos(i)},${Math.sin(i)}]')`).join(',')}`);
});
afterAll(async () => {
  await browser?.close();
  await client?.end();
  await c?.close();
  pgs?.stopAll();
});

const http = (p: string) => fetch(`http://127.0.0.1:${c.httpPort}${p}`);
const metric = (text: string, name: string) => {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name + '{') && l.slice(0, l.lastIndexOf(' ')) === name);
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
};

it('serves Prometheus metrics: statements by kind, latency histograms, errors by SQLSTATE, pools, health, placements', async () => {
  for (let i = 0; i < 30; i++) await client.query("SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 3", [`[${Math.cos(i)},${Math.sin(i)}]`]);
  for (let i = 0; i < 5; i++) await client.query('SELECT id FROM docs WHERE id = $1', [i]);
  await expect(client.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
  const r = await http('/metrics');
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/text\/plain/);
  const text = await r.text();
  expect(metric(text, 'vecshard_statements_total{kind="knn"}')).toBeGreaterThanOrEqual(30);
  expect(metric(text, 'vecshard_statements_total{kind="router"}')).toBeGreaterThanOrEqual(5);
  expect(metric(text, 'vecshard_statement_duration_seconds_count{kind="knn"}')).toBeGreaterThanOrEqual(30);
  expect(metric(text, 'vecshard_errors_total{sqlstate="42P01"}')).toBe(1);
  for (const n of [0, 1, 2]) {
    expect(metric(text, `vecshard_node_up{node="${n}"}`)).toBe(1);
    expect(metric(text, `vecshard_shard_query_duration_seconds_count{node="${n}"}`)).toBeGreaterThan(0);
  }
  expect(metric(text, 'vecshard_placements{database="postgres",state="active"}')).toBe(8);
  expect(text).toMatch(/vecshard_pool_connections\{node="0",database="postgres",state="idle"\} \d+/);
  expect(metric(text, 'vecshard_client_connections')).toBe(1);
  expect(text).toMatch(/vecshard_process_resident_memory_bytes \d+/);
});

it('draws the status page in Chromium, and shows a node going down', async () => {
  expect(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-test-tools.sh`).toBe(true);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const page = await browser.newPage();
  // Queries keep running while the page watches.
  let running = true;
  const load = (async () => {
    for (let i = 0; running; i++) await client.query("SELECT id FROM docs ORDER BY embedding <-> $1 LIMIT 3", [`[${Math.cos(i)},${Math.sin(i)}]`]).catch(() => {});
  })();
  try {
    await page.goto(`http://127.0.0.1:${c.httpPort}/`);
    await page.waitForSelector('body[data-updated]');
    expect(await page.locator('g.node[data-up="true"]').count()).toBe(3);
    // Every copy in the catalog is drawn, on its node.
    const copies = await page.locator('g.copy[data-table="docs"]').evaluateAll((els) => els.map((e) => `${e.getAttribute('data-shard')}@${e.getAttribute('data-node')}`).sort());
    const catalog = await client.query("SELECT s.shard_index || '@' || p.node_id AS c FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'docs'");
    expect(copies).toEqual(catalog.rows.map((r) => r.c).sort());
    expect(await page.locator('#summary').textContent()).toMatch(/3 of 3 nodes answering · 1 client connected · 8 shard copies/);
    await expect.poll(async () => Number(await page.locator('#qps').textContent()), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await page.locator('#qps-chart polyline').count()).toBeGreaterThan(0);
    expect(Number(await page.locator('#latency').textContent())).toBeGreaterThan(0);

    pgs.servers[2].stop();
    await expect.poll(() => page.locator('g.node[data-node="2"]').getAttribute('data-up'), { timeout: 15_000 }).toBe('false');
    expect(await page.locator('g.copy[data-node="2"][data-up="false"]').count()).toBe(copies.filter((x) => x.endsWith('@2')).length);
    expect(await page.locator('#summary').textContent()).toMatch(/2 of 3 nodes answering/);
    await page.screenshot({ path: path.join(os.tmpdir(), 'vecshard-status-page.png') });

    const health = await http('/healthz');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', nodesUp: 2, nodes: 3 });
    expect(metric(await (await http('/metrics')).text(), 'vecshard_node_up{node="2"}')).toBe(0);
  } finally {
    running = false;
    await within('the query load to stop', load, 15_000);
  }
});

it('logs slow statements with their distributed plan (vecshard start, slowQueryMs 0)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-slowlog-'));
  const port = await freePort();
  const config = path.join(dir, 'vecshard.json');
  const up = pgs.servers.slice(0, 2).map((s) => s.url).concat(pgs.servers[2].url);
  fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: up, slowQueryMs: 0, logLevel: 'warn', pool: { healthCheckIntervalMs: 200 } }));
  const w = await startCli(['start', '--workers', '1', '--config', config]);
  try {
    const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    await cl.connect();
    await cl.query("SELECT id FROM docs ORDER BY embedding <-> '[1,0]' LIMIT 3");
    // A statement with a password in it is logged without it.
    await cl.query("SELECT vecshard.add_node('postgres://someone:hunter2-secret@127.0.0.1:1')").catch(() => {});
    await cl.end();
    await expect.poll(() => w.stderr.includes('slow query'), { timeout: 5000 }).toBe(true);
    const entry = w.stderr.split('\n').filter((l) => l.includes('slow query')).map((l) => JSON.parse(l)).find((e) => e.kind === 'knn');
    expect(entry).toMatchObject({ msg: 'slow query', kind: 'knn', sql: "SELECT id FROM docs ORDER BY embedding <-> '[1,0]' LIMIT 3" });
    expect(entry.strategy).toMatch(/knn scatter-gather/);
    expect(entry.shards).toHaveLength(4);
    expect(entry.shardSql).toMatch(/vecshard_shards/);
    expect(entry.ms).toBeGreaterThanOrEqual(0);
    await expect.poll(() => w.stderr.includes('vecshard.add_node'), { timeout: 5000 }).toBe(true);
    expect(w.stderr).toContain('postgres://someone:***@127.0.0.1:1');
    expect(w.stderr).not.toContain('hunter2');
  } finally {
    w.child.kill('SIGKILL');
    await waitForExit(w, 10_000);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** A GET with the Host header (and Authorization) a client chose: fetch() will not send another Host. */
function get(port: number, p: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: p, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.end();
  });
}

it('answers only its own host names (no DNS rebinding), and wants the bearer token when one is set', async () => {
  const port = c.httpPort!;
  expect(await get(port, '/api/status', { host: 'evil.example' })).toBe(403);
  expect(await get(port, '/metrics', { host: `rebound.example:${port}` })).toBe(403);
  expect(await get(port, '/api/status', { host: `localhost:${port}` })).toBe(200);
  const guarded = await startTestCoordinator(pgs, { http: { token: 'a-long-enough-secret-token', allowedHosts: ['vecshard.internal'] } });
  try {
    const p = guarded.httpPort!;
    expect(await get(p, '/metrics', { host: '127.0.0.1' })).toBe(401);
    expect(await get(p, '/api/status', { host: 'vecshard.internal', authorization: 'Bearer wrong-token-of-some-length' })).toBe(401);
    expect(await get(p, '/api/status', { host: 'vecshard.internal', authorization: 'Bearer a-long-enough-secret-token' })).toBe(200);
    expect(await get(p, '/healthz', { host: '127.0.0.1' })).toBe(200);
  } finally {
    await guarded.close();
  }
});
