// PgBouncer (Debian's package) in session pooling mode in front of one node, as users would put it.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, type PgServer } from '../test/helpers/pg-nodes.ts';

export interface Bouncer {
  port: number;
  stop(): void;
}

export async function startPgBouncer(node: PgServer, poolSize: number): Promise<Bouncer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-bouncer-'));
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'userlist.txt'), `"postgres" "${node.password}"\n`);
  fs.writeFileSync(
    path.join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `* = host=127.0.0.1 port=${node.port}`,
      '[pgbouncer]',
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      `unix_socket_dir =`,
      `auth_type = scram-sha-256`,
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      `pool_mode = session`,
      `default_pool_size = ${poolSize}`,
      `max_client_conn = 1000`,
      `logfile = ${path.join(dir, 'log')}`,
      `pidfile = ${path.join(dir, 'pid')}`,
      '',
    ].join('\n'),
  );
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', dir]);
  const [cmd, args] = asRoot ? ['runuser', ['-u', 'postgres', '--', 'pgbouncer', path.join(dir, 'pgbouncer.ini')]] : ['pgbouncer', [path.join(dir, 'pgbouncer.ini')]];
  const child: ChildProcess = spawn(cmd, args, { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    if (fs.existsSync(path.join(dir, 'pid'))) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop() {
      try {
        const pid = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
        process.kill(pid, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
