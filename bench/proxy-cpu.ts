// CPU per query of the proxy itself (vecshard's process vs PgBouncer's), under pgbench -S: what P1's ratio is made of.
// A third proxy is the floor for any proxy written for Node: a process that only pipes each client's socket to its
// own node connection, bytes untouched (no protocol, no pooling).
// npx tsx bench/proxy-cpu.ts [prepared|simple|extended] [clients] [seconds]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startPgServer, findPgBin } from '../test/helpers/pg-nodes.ts';
import { startPgBouncer } from './pgbouncer.ts';

const [mode = 'prepared', clients = '8', seconds = '5'] = process.argv.slice(2);
const times = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 }; // seconds
};
const server = await startPgServer();
const bin = findPgBin();
const env = { ...process.env, PGPASSWORD: server.password };
execFileSync(path.join(bin, 'pgbench'), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', 'postgres'], { env, stdio: 'ignore' });
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-cpu-'));
const port = await freePort();
fs.writeFileSync(path.join(dir, 'c.json'), JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: [server.url], logLevel: 'warn', pool: { size: 40 } }));
const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--workers', '1', '--config', path.join(dir, 'c.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((r) => child.stdout!.on('data', (d) => String(d).includes('listening') && r()));
const bouncer = await startPgBouncer(server, 40);
const bouncerPid = Number(execFileSync('pgrep', ['-n', '-x', 'pgbouncer'], { encoding: 'utf8' }).trim());
const pipePort = await freePort();
const pipeScript = `const net = require('node:net');
net.createServer((c) => { c.setNoDelay(true); const s = net.connect(${server.port}, '127.0.0.1'); s.setNoDelay(true);
  c.pipe(s); s.pipe(c); c.on('error', () => s.destroy()); s.on('error', () => c.destroy()); }).listen(${pipePort}, '127.0.0.1', () => console.log('listening'));`;
const pipe = spawn(process.execPath, ['-e', pipeScript], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise<void>((r) => pipe.stdout!.on('data', (d) => String(d).includes('listening') && r()));
for (const [name, p, pid] of [['vecshard', port, child.pid!], ['pgbouncer', bouncer.port, bouncerPid], ['node pipe', pipePort, pipe.pid!]] as const) {
  // A short unmeasured run first: the JIT's warm-up is not the proxy's cost per query.
  execFileSync(path.join(bin, 'pgbench'), ['-S', '-n', '-M', mode, '-c', clients, '-j', clients === '1' ? '1' : '2', '-T', '2', '-h', '127.0.0.1', '-p', String(p), '-U', 'postgres', 'postgres'], { env, stdio: 'ignore' });
  for (let round = 0; round < 2; round++) {
    const before = times(pid);
    const out = execFileSync(path.join(bin, 'pgbench'), ['-S', '-n', '-M', mode, '-c', clients, '-j', clients === '1' ? '1' : '2', '-T', seconds, '-h', '127.0.0.1', '-p', String(p), '-U', 'postgres', 'postgres'], { env, encoding: 'utf8' });
    const after = times(pid);
    const used = after.user + after.system - before.user - before.system;
    const user = after.user - before.user;
    const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)![1]);
    const tps = Number(/tps = ([\d.]+)/.exec(out)![1]);
    process.stdout.write(`${name} round ${round + 1}: ${tps.toFixed(0)} tps, proxy CPU ${used.toFixed(2)} s = ${((used / tx) * 1e6).toFixed(1)} µs per query (user ${((user / tx) * 1e6).toFixed(1)} µs)\n`);
  }
}
bouncer.stop();
pipe.kill();
child.kill('SIGINT');
server.stop();
