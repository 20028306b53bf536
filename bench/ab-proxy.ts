// The proxy CPU per query of the working tree against another commit, measured in alternating rounds on the same
// node (this machine's noise moves PgBouncer's own rate 20–30 % between runs, so only a same-run A/B tells a few
// µs apart). npx tsx bench/ab-proxy.ts <git ref> [prepared|simple] [clients] [seconds] [rounds]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startPgServer, findPgBin } from '../test/helpers/pg-nodes.ts';

const [ref = 'HEAD', mode = 'prepared', clients = '8', seconds = '5', rounds = '6'] = process.argv.slice(2);
const times = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, system: Number(f[12]) / 100 };
};
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-ab-'));
execFileSync('git', ['worktree', 'add', '--detach', '-q', base, ref]);
fs.symlinkSync(path.resolve('node_modules'), path.join(base, 'node_modules'));
const server = await startPgServer();
const bin = findPgBin();
const env = { ...process.env, PGPASSWORD: server.password };
execFileSync(path.join(bin, 'pgbench'), ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', String(server.port), '-U', 'postgres', 'postgres'], { env, stdio: 'ignore' });
const procs: Array<{ name: string; port: number; pid: number; kill: () => void }> = [];
for (const [name, dir] of [[ref, base], ['working tree', process.cwd()]]) {
  const port = await freePort();
  const config = path.join(base, `${procs.length}.json`);
  fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: [server.url], logLevel: 'warn', pool: { size: 40 } }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--workers', '1', '--config', config], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout!.on('data', (d) => String(d).includes('listening') && r()));
  procs.push({ name, port, pid: child.pid!, kill: () => child.kill('SIGINT') });
}
const pgbench = (port: number, t: string) =>
  execFileSync(path.join(bin, 'pgbench'), ['-S', '-n', '-M', mode, '-c', clients, '-j', clients === '1' ? '1' : '2', '-T', t, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'], { env, encoding: 'utf8' });
for (const p of procs) pgbench(p.port, '3'); // the JIT's warm-up is not the proxy's cost
const sums = new Map(procs.map((p) => [p.name, { us: 0, user: 0, tps: 0 }]));
for (let r = 0; r < Number(rounds); r++) {
  for (const p of r % 2 ? [...procs].reverse() : procs) {
    const before = times(p.pid);
    const out = pgbench(p.port, seconds);
    const after = times(p.pid);
    const tx = Number(/number of transactions actually processed: (\d+)/.exec(out)![1]);
    const tps = Number(/tps = ([\d.]+)/.exec(out)![1]);
    const us = ((after.user + after.system - before.user - before.system) / tx) * 1e6;
    const user = ((after.user - before.user) / tx) * 1e6;
    const s = sums.get(p.name)!;
    [s.us, s.user, s.tps] = [s.us + us, s.user + user, s.tps + tps];
    process.stdout.write(`${p.name} round ${r + 1}: ${tps.toFixed(0)} tps, ${us.toFixed(1)} µs per query (user ${user.toFixed(1)})\n`);
  }
}
for (const [name, s] of sums) process.stdout.write(`${name}: mean ${(s.us / Number(rounds)).toFixed(1)} µs per query (user ${(s.user / Number(rounds)).toFixed(1)}), ${(s.tps / Number(rounds)).toFixed(0)} tps\n`);
for (const p of procs) p.kill();
server.stop();
execFileSync('git', ['worktree', 'remove', '--force', base]);
