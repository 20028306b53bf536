// npm run bench -- <scenario> [--seconds N] [--rounds N]: runs a scenario, writes bench/results/<scenario>-<time>.json
// and a row in docs/benchmarks.md with the command, machine and versions. `--smoke` is the tiny run the tests use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { p1, type P1Cell } from './p1.ts';

const args = process.argv.slice(2);
const scenario = args[0];
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const smoke = args.includes('--smoke');

function machine(): string {
  const pg = execFileSync('pgbench', ['--version'], { encoding: 'utf8' }).trim();
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${pg}`;
}

async function main(): Promise<void> {
  if (scenario !== 'p1') {
    process.stderr.write('usage: npm run bench -- p1 [--seconds 5] [--rounds 2] [--smoke]\n  p1: pgbench -S through vecshard vs PgBouncer vs direct\n');
    process.exit(2);
  }
  const opts = smoke
    ? { seconds: 1, clients: [1, 4], modes: ['prepared' as const], rounds: 1, scale: 1 }
    : { seconds: flag('seconds', 5), clients: [1, 8, 32], modes: ['prepared' as const, 'simple' as const], rounds: flag('rounds', 2), scale: flag('scale', 10) };
  const cells: P1Cell[] = await p1(opts, (s) => process.stderr.write(s + '\n'));
  const result = { scenario, date: new Date().toISOString(), machine: machine(), options: opts, cells };
  const dir = path.join('bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${scenario}-${result.date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify(result, null, 2));
  const table = cells
    .map((c) => `| ${c.mode} | ${c.clients} | ${c.median.direct.toFixed(0)} | ${c.median.pgbouncer.toFixed(0)} | ${c.median.vecshard.toFixed(0)} | ${c.vsPgbouncer.toFixed(2)}× | ${c.vsDirect.toFixed(2)}× |`)
    .join('\n');
  process.stdout.write(`${file}\n| mode | clients | direct tps | PgBouncer tps | vecshard tps | vecshard / PgBouncer | vecshard / direct |\n| --- | --- | --- | --- | --- | --- | --- |\n${table}\n`);
  if (!smoke) {
    const cmd = `npm run bench -- ${args.join(' ')}`;
    const section = `\n### P1 proxy overhead, ${result.date.slice(0, 10)}\n\n\`${cmd}\` — ${result.machine}; medians of ${opts.rounds} interleaved rounds of ${opts.seconds} s, pgbench scale ${opts.scale}, one node.\n\n| mode | clients | direct tps | PgBouncer tps | vecshard tps | vecshard / PgBouncer | vecshard / direct |\n| --- | --- | --- | --- | --- | --- | --- |\n${table}\n`;
    fs.appendFileSync(path.join('docs', 'benchmarks.md'), section);
  }
}

await main();
