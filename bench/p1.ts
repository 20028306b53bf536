// P1, proxy overhead: pgbench -S through vecshard, through PgBouncer (session pooling) and straight at the node,
// interleaved round by round so machine drift hits all alike; and the same lookups through vecshard on a
// distributed pgbench_accounts (4 shards by aid, in a second database on the same node): a routed primary-key lookup.
import os from 'node:os';
import pg from 'pg';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { run } from '../test/helpers/run.ts';
import { startPgBouncer } from './pgbouncer.ts';

export interface P1Options {
  seconds: number;
  clients: number[];
  modes: Array<'prepared' | 'simple'>;
  rounds: number;
  scale: number;
}

type Target = 'direct' | 'pgbouncer' | 'vecshard' | 'distributed';

export interface P1Cell {
  mode: string;
  clients: number;
  tps: Record<Target, number[]>;
  median: Record<Target, number>;
  vsPgbouncer: number;
  vsDirect: number;
  /** The distributed table's routed lookups through vecshard, against direct lookups on the plain table. */
  distributedVsDirect: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

export async function p1(o: P1Options, log: (s: string) => void = () => {}): Promise<P1Cell[]> {
  const pgs = await startPgServers(1);
  const node = pgs.servers[0];
  const maxClients = Math.max(...o.clients);
  const c = await startTestCoordinator(pgs, { pool: { size: maxClients } });
  const bouncer = await startPgBouncer(node, maxClients);
  const env = { PGPASSWORD: node.password };
  try {
    const init = await run('pgbench', ['-i', '-q', '-s', String(o.scale), '-h', '127.0.0.1', '-p', String(node.port), '-U', 'postgres', 'postgres'], env);
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    // The second database: made through vecshard, filled on the node, then distributed through vecshard.
    const admin = new pg.Client(c.options());
    await admin.connect();
    await admin.query('CREATE DATABASE dist');
    await admin.end();
    const initDist = await run('pgbench', ['-i', '-q', '-s', String(o.scale), '-h', '127.0.0.1', '-p', String(node.port), '-U', 'postgres', 'dist'], env);
    if (initDist.code !== 0) throw new Error(`pgbench -i (dist) failed: ${initDist.stderr}`);
    const dist = new pg.Client(c.options('dist'));
    await dist.connect();
    await dist.query(`SELECT create_distributed_table('pgbench_accounts', 'aid', shard_count => 4)`);
    await dist.end();
    const targets = { direct: [node.port, 'postgres'], pgbouncer: [bouncer.port, 'postgres'], vecshard: [c.port, 'postgres'], distributed: [c.port, 'dist'] } as const;
    const cells: P1Cell[] = [];
    for (const mode of o.modes) {
      for (const clients of o.clients) {
        const tps = { direct: [] as number[], pgbouncer: [] as number[], vecshard: [] as number[], distributed: [] as number[] };
        for (let r = 0; r < o.rounds; r++) {
          for (const [name, [port, db]] of Object.entries(targets) as Array<[Target, readonly [number, string]]>) {
            const threads = Math.min(clients, os.cpus().length);
            const res = await run('pgbench', ['-S', '-M', mode, '-c', String(clients), '-j', String(threads), '-T', String(o.seconds), '-n', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', db], env);
            const t = Number(/tps = ([\d.]+)/.exec(res.stdout)?.[1] ?? NaN);
            if (res.code !== 0 || !/number of failed transactions: 0 /.test(res.stdout)) throw new Error(`pgbench through ${name} failed: ${res.stderr || res.stdout}`);
            tps[name].push(t);
            log(`${mode} c=${clients} round ${r + 1} ${name}: ${t.toFixed(0)} tps`);
          }
        }
        const m = { direct: median(tps.direct), pgbouncer: median(tps.pgbouncer), vecshard: median(tps.vecshard), distributed: median(tps.distributed) };
        cells.push({ mode, clients, tps, median: m, vsPgbouncer: m.vecshard / m.pgbouncer, vsDirect: m.vecshard / m.direct, distributedVsDirect: m.distributed / m.direct });
      }
    }
    return cells;
  } finally {
    bouncer.stop();
    await c.close();
    pgs.stopAll();
  }
}
