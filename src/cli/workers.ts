// `vecshard start --workers N`: N coordinator processes sharing the listen port (node:cluster hands each new client
// connection to one of them), so one machine's coordinator uses all its cores. Each worker is a complete
// coordinator with a lease of its own; they share nothing in memory and agree through the nodes, as coordinators
// on different machines do (docs/operations.md, "Several coordinators").
import cluster from 'node:cluster';

export interface Listening {
  host: string;
  port: number;
  httpPort?: number;
}

export const isWorker = () => cluster.isWorker;

/** In a worker: tells the first process where it listens. */
export function reportListening(l: Listening): void {
  process.send?.({ vecshard: 'listening', ...l });
}

/**
 * In the first process: starts `n` workers, each running this same command, and prints `banner` once all listen.
 * A worker that dies is started again (after a second); one that dies before all listened stops everything (exit
 * 1), since the next would fail the same way. SIGINT or SIGTERM stops the workers, then this process.
 */
export function superviseWorkers(n: number, banner: (l: Listening) => string): void {
  let stopping = false;
  let listening = 0;
  let exitCode = 0;
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (m: { vecshard?: string } & Listening) => {
      if (m?.vecshard === 'listening' && ++listening === n) process.stdout.write(banner(m));
    });
  };
  cluster.on('exit', (w, code, signal) => {
    if (stopping) {
      if (!Object.keys(cluster.workers ?? {}).length) process.exit(exitCode);
      return;
    }
    // One that could not start (its error is on stderr: a port in use, nodes that refuse) would fail again.
    if (listening < n) {
      exitCode = 1;
      return stop();
    }
    process.stderr.write(`vecshard: worker ${w.process.pid} stopped (${signal ?? `exit ${code}`}); starting another\n`);
    setTimeout(fork, 1000);
  });
  for (let i = 0; i < n; i++) fork();
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('vecshard: stopping\n');
    if (!Object.keys(cluster.workers ?? {}).length) process.exit(exitCode);
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    // A worker that does not stop within 30 s is killed.
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
      process.exit(1);
    }, 30_000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
