// P8, several coordinators (issue 18): the same nodes behind `vecshard start --workers 1` and `--workers 2`, run as
// separate processes side by side, alternating rounds: kNN q/s (as P2, synthetic vectors) and routed lookups
// (as P1: pgbench, prepared, by the distribution column) through each. And what another coordinator costs one
// that writes: single-row INSERTs through coordinator A alone, then with B alive (writers then take shard locks on
// the home node and check the catalog's version).
// npx tsx bench/p8.ts [--rows 20000] [--queries 2000] [--rounds 3] [--clients 8] [--seconds 5]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startPgServers } from '../test/helpers/pg-nodes.ts';
import { startCli, type Watched } from '../test/helpers/wait.ts';
import { clustered, toSql } from './data.ts';
import { connectAll, loadItems, spread } from './clients.ts';
import { run } from '../test/helpers/run.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const [rows, nq, rounds, clients, seconds] = [arg('rows', 20_000), arg('queries', 2000), arg('rounds', 3), arg('clients', 8), arg('seconds', 5)];
const dim = 32;
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const pgs = await startPgServers(2);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-p8-'));
const procs: Watched[] = [];
async function coordinator(workers: number): Promise<pg.ClientConfig> {
  const port = await freePort();
  const file = path.join(dir, `c${port}.json`);
  fs.writeFileSync(file, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn', pool: { size: 64 } }));
  procs.push(await startCli(['start', '--workers', String(workers), '--config', file]));
  return { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' };
}

try {
  const a = await coordinator(1);
  const data = clustered(rows, nq, dim, 40);
  const admin = new pg.Client(a);
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
  await loadItems(admin, data.rows, 4);
  await admin.query('CREATE TABLE ins (id bigint PRIMARY KEY, note text)');
  await admin.query(`SELECT create_distributed_table('ins', 'id', shard_count => 4)`);
  await admin.end();

  let nextId = 0;
  const inserts = async (cfg: pg.ClientConfig) => {
    const conns = await connectAll(clients, cfg);
    await spread(conns, 200, (c) => c.query({ name: 'ins', text: 'INSERT INTO ins VALUES ($1, $2)', values: [nextId++, 'x'] })); // warm-up
    const r = await spread(conns, nq, (c) => c.query({ name: 'ins', text: 'INSERT INTO ins VALUES ($1, $2)', values: [nextId++, 'x'] }));
    await Promise.all(conns.map((c) => c.end()));
    return r.qps;
  };
  const alone: number[] = [];
  for (let r = 0; r < rounds; r++) alone.push(await inserts(a));

  const b = await coordinator(2);
  // A notices B at its next lease renewals (every 5 s).
  await new Promise((r) => setTimeout(r, 12_000));
  const withPeer: number[] = [];
  for (let r = 0; r < rounds; r++) withPeer.push(await inserts(a));

  const knn = async (cfg: pg.ClientConfig) => {
    const conns = await connectAll(clients, cfg);
    const q = (c: pg.Client, i: number) => c.query({ name: 'knn', text: 'SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10', values: [toSql(data.queries[i % nq])] });
    await spread(conns, 200, q);
    const r = await spread(conns, nq, q);
    await Promise.all(conns.map((c) => c.end()));
    return r.qps;
  };
  // Lookups as P1 runs them: pgbench, prepared, by the distribution column (a routed one-shard read).
  const script = path.join(dir, 'lookup.sql');
  fs.writeFileSync(script, `\\set id random(0, ${rows - 1})\nSELECT id, embedding FROM items WHERE id = :id;\n`);
  const lookup = async (cfg: pg.ClientConfig) => {
    const res = await run('pgbench', ['-n', '-M', 'prepared', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, os.cpus().length)), '-T', String(seconds), '-h', '127.0.0.1', '-p', String(cfg.port), '-U', 'postgres', 'postgres'], { PGPASSWORD: pgs.servers[0].password });
    const tps = Number(/tps = ([\d.]+)/.exec(res.stdout)?.[1] ?? NaN);
    if (res.code !== 0 || !/number of failed transactions: 0 /.test(res.stdout)) throw new Error(`pgbench failed: ${res.stderr || res.stdout}`);
    return tps;
  };
  const res = { knn: { w1: [] as number[], w2: [] as number[] }, lookup: { w1: [] as number[], w2: [] as number[] } };
  for (let r = 0; r < rounds; r++) {
    res.knn.w1.push(await knn(a));
    res.knn.w2.push(await knn(b));
    res.lookup.w1.push(await lookup(a));
    res.lookup.w2.push(await lookup(b));
  }
  const line = (what: string, x: number[], y: number[]) => `| ${what} | ${med(x).toFixed(0)} | ${med(y).toFixed(0)} | ${(med(y) / med(x)).toFixed(2)}× |`;
  const cpus = os.cpus().length;
  console.log(
    [
      `P8 on ${cpus} cores, ${rows} × ${dim} clustered vectors, 4 shards on 2 nodes (HNSW), ${clients} clients, median of ${rounds} rounds`,
      '',
      '| workload | --workers 1 q/s | --workers 2 q/s | ratio |',
      '| --- | --- | --- | --- |',
      line('kNN LIMIT 10', res.knn.w1, res.knn.w2),
      line(`pgbench lookup by id, -M prepared, ${seconds} s`, res.lookup.w1, res.lookup.w2),
      '',
      '| single-row INSERT through A | alone q/s | with B alive q/s | ratio |',
      '| --- | --- | --- | --- |',
      `| ${clients} clients | ${med(alone).toFixed(0)} | ${med(withPeer).toFixed(0)} | ${(med(withPeer) / med(alone)).toFixed(2)}× |`,
    ].join('\n'),
  );
} finally {
  for (const p of procs) p.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1000));
  for (const p of procs) p.child.kill('SIGKILL');
  pgs.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
}
