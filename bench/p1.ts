// P1, proxy overhead: pgbench -S through vecshard, through PgBouncer (session pooling) and straight at the node,
// interleaved round by round so machine drift hits all three alike.
import os from 'node:os';
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

export interface P1Cell {
  mode: string;
  clients: number;
  tps: Record<'direct' | 'pgbouncer' | 'vecshard', number[]>;
  median: Record<'direct' | 'pgbouncer' | 'vecshard', number>;
  vsPgbouncer: number;
  vsDirect: number;
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
    const targets = { direct: node.port, pgbouncer: bouncer.port, vecshard: c.port } as const;
    const cells: P1Cell[] = [];
    for (const mode of o.modes) {
      for (const clients of o.clients) {
        const tps = { direct: [] as number[], pgbouncer: [] as number[], vecshard: [] as number[] };
        for (let r = 0; r < o.rounds; r++) {
          for (const [name, port] of Object.entries(targets) as Array<[keyof typeof targets, number]>) {
            const threads = Math.min(clients, os.cpus().length);
            const res = await run('pgbench', ['-S', '-M', mode, '-c', String(clients), '-j', String(threads), '-T', String(o.seconds), '-n', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres'], env);
            const t = Number(/tps = ([\d.]+)/.exec(res.stdout)?.[1] ?? NaN);
            if (res.code !== 0 || !/number of failed transactions: 0 /.test(res.stdout)) throw new Error(`pgbench through ${name} failed: ${res.stderr || res.stdout}`);
            tps[name].push(t);
            log(`${mode} c=${clients} round ${r + 1} ${name}: ${t.toFixed(0)} tps`);
          }
        }
        const m = { direct: median(tps.direct), pgbouncer: median(tps.pgbouncer), vecshard: median(tps.vecshard) };
        cells.push({ mode, clients, tps, median: m, vsPgbouncer: m.vecshard / m.pgbouncer, vsDirect: m.vecshard / m.direct });
      }
    }
    return cells;
  } finally {
    bouncer.stop();
    await c.close();
    pgs.stopAll();
  }
}
