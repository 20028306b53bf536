// Profiles the coordinator under pgbench -S (P1's workload): node --cpu-prof on `vecshard start`, one client.
// npx tsx bench/profile-p1.ts [prepared|simple] [seconds] [clients] [--distributed]  → a .cpuprofile in
// /tmp/vecshard-prof, and a summary. --distributed first distributes pgbench_accounts (4 shards by aid).
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { newestProfile, printSelfTime } from './cpuprofile.ts';
import { freePort, startPgServer, findPgBin } from '../test/helpers/pg-nodes.ts';

const mode = process.argv[2] ?? 'prepared';
const seconds = process.argv[3] ?? '5';
const dir = '/tmp/vecshard-prof';
fs.rmSync(dir, { recursive: true, force: true });
fs.mkdirSync(dir, { recursive: true });
const server = await startPgServer();
const bin = findPgBin();
const env = { ...process.env, PGPASSWORD: server.password };
execFileSync(path.join(bin, 'pgbench'), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', 'postgres'], { env, stdio: 'ignore' });
const port = await freePort();
const config = path.join(dir, 'config.json');
fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: [server.url], logLevel: 'warn' }));
const child = spawn(process.execPath, [...(process.env.PRELOAD ? ['--require', process.env.PRELOAD] : []), '--cpu-prof', `--cpu-prof-dir=${dir}`, '--import', 'tsx', 'src/cli/main.ts', 'start', '--workers', '1', '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((r) => child.stdout!.on('data', (d) => String(d).includes('listening') && r()));
if (process.argv.includes('--distributed')) {
  execFileSync(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', `SELECT create_distributed_table('pgbench_accounts', 'aid', shard_count => 4)`, 'postgres'], { env, stdio: 'ignore' });
}
const out = execFileSync(path.join(bin, 'pgbench'), ['-S', '-M', mode, '-c', process.argv[4] ?? '1', '-j', '2', '-T', seconds, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'], { env, encoding: 'utf8' });
process.stdout.write(out.split('\n').filter((l) => /tps|latency/.test(l)).join('\n') + '\n');
child.kill('SIGINT');
await new Promise((r) => child.on('exit', r));
server.stop();
// Shares of the time spent running JavaScript: idle, syscalls (writeBuffer), GC and the compiler are left out.
printSelfTime(newestProfile(dir), 40, /^\((idle|program|garbage collector)\)|^writeBuffer /);
