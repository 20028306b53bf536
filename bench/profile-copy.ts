// Profiles the coordinator during a COPY into a distributed table (P3's workload): node --cpu-prof on
// `vecshard start` in front of two nodes, 8 shards. npx tsx bench/profile-copy.ts [rows] [dim]
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { newestProfile, printSelfTime } from './cpuprofile.ts';
import { freePort, startPgServers } from '../test/helpers/pg-nodes.ts';

const rows = Number(process.argv[2] ?? 100_000);
const dim = Number(process.argv[3] ?? 100);
const dir = '/tmp/vecshard-prof-copy';
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
const pgs = await startPgServers(2);
const port = await freePort();
const config = path.join(dir, 'config.json');
fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: pgs.servers.map((s) => s.url), logLevel: 'warn' }));
const child = spawn(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'src/cli/main.ts', 'start', '--workers', '1', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((r) => child.stdout!.on('data', (d) => String(d).includes('listening') && r()));
const db = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
await db.connect();
await db.query(`CREATE TABLE items (id bigint, embedding vector(${dim})); SELECT create_distributed_table('items', 'id', shard_count => 8, replication_factor => 1)`);
let seed = 1;
const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const lines: string[] = [];
for (let i = 0; i < rows; i++) lines.push(`${i}\t[${Array.from({ length: dim }, () => rnd().toFixed(5)).join(',')}]\n`);
const chunks = Array.from({ length: Math.ceil(rows / 1000) }, (_, k) => lines.slice(k * 1000, k * 1000 + 1000).join(''));
const t0 = performance.now();
await pipeline(Readable.from(chunks), db.query(copyFrom('COPY items (id, embedding) FROM STDIN')));
const secs = (performance.now() - t0) / 1000;
process.stdout.write(`COPY ${rows} × ${dim}: ${secs.toFixed(2)} s (${Math.round(rows / secs)} rows/s)\n`);
await db.end();
// The same rows straight into one node, for scale.
const direct = new pg.Client({ connectionString: pgs.servers[1].url + '/postgres' });
await direct.connect();
await direct.query(`CREATE TABLE items_direct (id bigint, embedding vector(${dim}))`);
const t1 = performance.now();
await pipeline(Readable.from(chunks), direct.query(copyFrom('COPY items_direct (id, embedding) FROM STDIN')));
const d = (performance.now() - t1) / 1000;
process.stdout.write(`direct COPY into one node: ${d.toFixed(2)} s; vecshard / direct throughput ${(d / secs).toFixed(2)}x\n`);
await direct.end();
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
pgs.stopAll();
printSelfTime(newestProfile(dir), 25);
