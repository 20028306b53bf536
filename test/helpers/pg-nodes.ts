// Starts real PostgreSQL + pgvector servers for tests: initdb as the postgres user, free loopback ports, settings
// for speed, and always stopped again (after each suite, and at process exit if a suite dies).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';

export interface PgServer {
  port: number;
  dataDir: string;
  /** Connection string without a database, as vecshard's config takes it. */
  url: string;
  password: string;
  stop(): void;
  start(): void;
  /** Sends a signal to the server and all its processes (SIGSTOP freezes it as a hung host would be). */
  signal(sig: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void;
}

const PASSWORD = 'vecshard-test';

/** The newest /usr/lib/postgresql/<v>/bin whose version also has pgvector installed. */
export function findPgBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = path.join(root, v, 'bin');
    if (fs.existsSync(path.join(bin, 'postgres')) && fs.existsSync(`/usr/share/postgresql/${v}/extension/vector.control`)) return bin;
  }
  throw new Error(
    `No PostgreSQL server with pgvector found under ${root} (looked at: ${versions.join(', ') || 'none'}). ` +
      'Install it with: sudo bash scripts/install-postgres.sh',
  );
}

const running = new Set<PgServer>();
process.on('exit', () => {
  for (const s of running) s.stop();
});

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

const asRoot = process.getuid?.() === 0;

function runAsPostgres(cmd: string, args: string[]): void {
  const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
  const r = spawnSync(file, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

export async function startPgServer(extraSettings: Record<string, string> = {}): Promise<PgServer> {
  const bin = findPgBin();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-pg-'));
  fs.chmodSync(base, 0o755);
  const dataDir = path.join(base, 'data');
  const pwfile = path.join(base, 'pw');
  fs.writeFileSync(pwfile, PASSWORD + '\n');
  if (asRoot) execFileSync('chown', ['-R', 'postgres:postgres', base]);
  runAsPostgres(path.join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '-N']);
  const port = await freePort();
  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    port: String(port),
    unix_socket_directories: base,
    fsync: 'off',
    full_page_writes: 'off',
    max_connections: '200',
    max_prepared_transactions: '50',
    shared_buffers: '64MB',
    ...extraSettings,
  };
  fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), Object.entries(settings).map(([k, v]) => `${k} = '${v}'\n`).join(''));
  const pgctl = path.join(bin, 'pg_ctl');
  const server: PgServer = {
    port,
    dataDir,
    password: PASSWORD,
    url: `postgres://postgres:${PASSWORD}@127.0.0.1:${port}`,
    start() {
      runAsPostgres(pgctl, ['-D', dataDir, '-l', path.join(base, 'log'), '-w', '-t', '60', 'start']);
      running.add(server);
    },
    signal(sig) {
      const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
      const children = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
        try {
          // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
          const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
          return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
        } catch {
          return false;
        }
      });
      for (const p of [pid, ...children.map(Number)]) {
        try {
          process.kill(p, sig);
        } catch {
          // gone already
        }
      }
      if (sig === 'SIGKILL') running.delete(server);
    },
    stop() {
      if (!running.has(server)) return;
      running.delete(server);
      spawnSync(asRoot ? 'runuser' : pgctl, asRoot ? ['-u', 'postgres', '--', pgctl, '-D', dataDir, '-m', 'immediate', '-w', 'stop'] : ['-D', dataDir, '-m', 'immediate', '-w', 'stop']);
    },
  };
  server.start();
  const psql = path.join(bin, 'psql');
  for (const db of ['postgres', 'template1']) {
    runAsPostgres(psql, ['-h', base, '-p', String(port), '-U', 'postgres', '-d', db, '-qc', 'CREATE EXTENSION IF NOT EXISTS vector']);
  }
  return server;
}

/** N servers; `stopAll` stops them and removes their folders. */
export async function startPgServers(n: number): Promise<{ servers: PgServer[]; stopAll(): void }> {
  const servers = await Promise.all(Array.from({ length: n }, () => startPgServer()));
  return {
    servers,
    stopAll() {
      for (const s of servers) {
        s.stop();
        fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true });
      }
    },
  };
}

/** Runs `sql` on a node directly (its postgres database), bypassing vecshard; returns the rows. */
export async function queryNode(server: PgServer, sql: string): Promise<Array<Record<string, any>>> {
  const { default: pg } = await import('pg');
  const cl = new pg.Client({ connectionString: server.url + '/postgres' });
  await cl.connect();
  try {
    return (await cl.query(sql)).rows;
  } finally {
    await cl.end();
  }
}
