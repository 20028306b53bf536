// P5 coordinator cost: for kNN queries, the coordinator's own time (parse + plan, and merging the shard answers)
// against the time it waits for the shards; and the coordinator's memory (RSS, in a process of its own) with 32
// clients running kNN queries.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import pg from 'pg';
import { freePort, startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { clustered, toSql } from './data.ts';
import { connectAll, loadItems, spread } from './clients.ts';

export interface P5Options {
  rows: number;
  dim: number;
  nodes: number;
  shards: number;
  queries: number;
  clients: number[];
  rssClients: number;
}

export interface P5Result {
  cost: Array<{ clients: number; queries: number; parsePlanMs: number; mergeMs: number; shardMs: number; ratio: number; qps: number }>;
  rss: { idleMiB: number; loadedMiB: number; peakMiB: number; clients: number };
}

async function run(conns: pg.Client[], queries: number[][], total: number): Promise<number> {
  return (await spread(conns, total, (c, i) => c.query('SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10', [toSql(queries[i % queries.length])]))).qps;
}

function rssOf(pid: number): { rss: number; peak: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

export async function p5(o: P5Options, log: (s: string) => void = () => {}): Promise<P5Result> {
  const data = clustered(o.rows, 200, o.dim, 40);
  const pgs = await startPgServers(o.nodes);
  const c = await startTestCoordinator(pgs, { pool: { size: Math.max(o.rssClients, ...o.clients) + 4 } });
  try {
    const [db] = await connectAll(1, c.options());
    await loadItems(db, data.rows, o.shards);
    await db.end();
    const cost: P5Result['cost'] = [];
    for (const clients of o.clients) {
      const conns = await connectAll(clients, c.options());
      await run(conns, data.queries, 50); // warm up
      c.cluster.stats.reset();
      const qps = await run(conns, data.queries, o.queries);
      const s = c.cluster.stats;
      const row = { clients, queries: s.count, parsePlanMs: s.parsePlanMs / s.count, mergeMs: s.mergeMs / s.count, shardMs: s.shardMs / s.count, ratio: (s.parsePlanMs + s.mergeMs) / s.shardMs, qps };
      cost.push(row);
      log(`${clients} clients: parse+plan ${row.parsePlanMs.toFixed(3)} ms, merge ${row.mergeMs.toFixed(3)} ms, shards ${row.shardMs.toFixed(3)} ms per query (ratio ${row.ratio.toFixed(3)}), ${qps.toFixed(0)} q/s`);
      await Promise.all(conns.map((cl) => cl.end()));
    }
    // Memory: the same coordinator as a process of its own (`vecshard start`), measured from /proc.
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-p5-'));
    const config = path.join(dir, 'vecshard.json');
    fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: { port: 0 }, nodes: pgs.servers.map((s) => s.url), pool: { size: o.rssClients + 4 }, logLevel: 'warn' }));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--workers', '1', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => b.toString().includes('listening') && resolve());
        child.on('exit', (code) => reject(new Error(`vecshard start exited with ${code}`)));
      });
      const cfg = { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' };
      const [one] = await connectAll(1, cfg);
      await run([one], data.queries, 20);
      await one.end();
      const idle = rssOf(child.pid!);
      const conns = await connectAll(o.rssClients, cfg);
      await run(conns, data.queries, Math.max(o.queries, o.rssClients * 20));
      const loaded = rssOf(child.pid!);
      await Promise.all(conns.map((cl) => cl.end()));
      const rss = { idleMiB: idle.rss, loadedMiB: loaded.rss, peakMiB: loaded.peak, clients: o.rssClients };
      log(`coordinator RSS: ${idle.rss.toFixed(0)} MiB after one query, ${loaded.rss.toFixed(0)} MiB with ${o.rssClients} clients (peak ${loaded.peak.toFixed(0)} MiB)`);
      return { cost, rss };
    } finally {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    await c.close();
    pgs.stopAll();
  }
}
