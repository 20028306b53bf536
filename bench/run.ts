// npm run bench -- <scenario> [--seconds N] [--rounds N]: runs a scenario, writes bench/results/<scenario>-<time>.json
// and a row in docs/benchmarks.md with the command, machine and versions. `--smoke` is the tiny run the tests use.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { p1, type P1Cell } from './p1.ts';
import { equalRecallTable } from './equal-recall.ts';
import { p2 } from './p2.ts';
import { p4 } from './p4.ts';
import { p5 } from './p5.ts';
import { p3 } from './p3.ts';
import { p6 } from './p6.ts';
import { lineChart } from './svg.ts';
import { p1Chart } from './charts.ts';

const args = process.argv.slice(2);
const scenario = args[0];
const flag = (name: string, def: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const smoke = args.includes('--smoke');
/** P1's pgbench protocols: both, or the one --mode names. */
const modes = (): Array<'prepared' | 'simple'> => {
  const i = args.indexOf('--mode');
  return i >= 0 && ['prepared', 'simple'].includes(args[i + 1]) ? [args[i + 1] as 'prepared' | 'simple'] : ['prepared', 'simple'];
};

function machine(): string {
  const pg = execFileSync('pgbench', ['--version'], { encoding: 'utf8' }).trim();
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${pg}`;
}

async function main(): Promise<void> {
  if (scenario === 'p2') return runP2();
  if (scenario === 'p4') return runP4();
  if (scenario === 'p5') return runP5();
  if (scenario === 'p3') return runP3();
  if (scenario === 'p6') return runP6();
  if (scenario !== 'p1') {
    process.stderr.write(
      'usage: npm run bench -- <scenario> [options]\n' +
        '  p1 [--seconds 5] [--rounds 2] [--scale 10] [--mode prepared|simple] [--smoke]   pgbench -S through vecshard vs PgBouncer vs direct\n' +
        '  p2 [--rows 100000] [--dim 128] [--queries 200] [--nodes 2] [--shards 4] [--smoke]   sharded kNN vs one node\n' +
        '  p3 [--synthetic] [--rows N] [--nodes 2] [--shards 8] [--rounds 2] [--copy-only] [--smoke]   COPY + index build through vecshard vs one node\n' +
        '  p5 [--rows 100000] [--queries 4000] [--smoke]   coordinator time per kNN query vs shard time; RSS with 32 clients\n' +
        '  p6 [--rows 100000] [--queries 500] [--rounds 3] [--smoke]   nearest neighbours of a row (scalar subquery) vs the same kNN with a literal vector\n' +
        '  p4 [--synthetic] [--rows N] [--queries 1000] [--shards 16] [--clients 4] [--smoke]   clustered routing vs hash (GloVe-100)\n',
    );
    process.exit(2);
  }
  const opts = smoke
    ? { seconds: 1, clients: [1, 4], modes: ['prepared' as const], rounds: 1, scale: 1 }
    : { seconds: flag('seconds', 5), clients: [1, 8, 32], modes: modes(), rounds: flag('rounds', 2), scale: flag('scale', 10) };
  const cells: P1Cell[] = await p1(opts, (s) => process.stderr.write(s + '\n'));
  const table = cells
    .map((c) => `| ${c.mode} | ${c.clients} | ${c.median.direct.toFixed(0)} | ${c.median.pgbouncer.toFixed(0)} | ${c.median.vecshard.toFixed(0)} | ${c.vsPgbouncer.toFixed(2)}× | ${c.vsDirect.toFixed(2)}× | ${c.median.distributed.toFixed(0)} | ${c.distributedVsDirect.toFixed(2)}× |`)
    .join('\n');
  const head =
    '| mode | clients | direct tps | PgBouncer tps | vecshard tps | vecshard / PgBouncer | vecshard / direct | vecshard, distributed table tps | distributed / direct |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n';
  if (!smoke) fs.writeFileSync(path.join('docs', 'p1-tps.svg'), p1Chart(cells));
  report('p1', opts, cells, `P1 proxy overhead`, `medians of ${opts.rounds} interleaved rounds of ${opts.seconds} s, pgbench scale ${opts.scale}, one node; the distributed table is pgbench_accounts in a second database on the same node, 4 shards by aid.`, head + table + (smoke ? '' : '\n\nChart: ![P1](p1-tps.svg)'));
}

async function runP2(): Promise<void> {
  const opts = smoke
    ? { rows: 3000, dim: 16, queries: 30, nodes: 2, shards: 4, efSearch: [20, 80], clients: [1] }
    : {
        data: args.includes('--glove') ? ('glove' as const) : ('synthetic' as const),
        rows: flag('rows', args.includes('--glove') ? Infinity : 100_000),
        dim: flag('dim', 128),
        queries: flag('queries', args.includes('--glove') ? 1000 : 200),
        nodes: flag('nodes', 2),
        shards: flag('shards', 4),
        efSearch: [20, 40, 80, 160, 320],
        clients: [1, 8],
      };
  const cells = await p2(opts, (s) => process.stderr.write(s + '\n'));
  const head = '| ef_search | clients | one node recall@10 | one node q/s | vecshard recall@10 | vecshard q/s | q/s ratio |\n| --- | --- | --- | --- | --- | --- | --- |\n';
  const table = cells
    .map((c) => `| ${c.efSearch} | ${c.clients} | ${c.single.recall.toFixed(3)} | ${c.single.qps.toFixed(0)} | ${c.vecshard.recall.toFixed(3)} | ${c.vecshard.qps.toFixed(0)} | ${c.qpsRatio.toFixed(2)}× |`)
    .join('\n');
  const glove = 'data' in opts && opts.data === 'glove';
  const chart = writeChart(`p2-recall-qps${glove ? '-glove' : ''}${opts.nodes !== 2 || opts.shards !== 4 ? `-${opts.shards}x${opts.nodes}` : ''}`, `P2: recall@10 vs q/s, ${glove ? 'GloVe-100' : 'synthetic'}, one node vs ${opts.shards} shards on ${opts.nodes} nodes`, opts.clients.flatMap((cl) => [
    { name: `one node, ${cl} client${cl > 1 ? 's' : ''}`, points: cells.filter((c) => c.clients === cl).map((c) => [c.single.recall, c.single.qps] as [number, number]) },
    { name: `vecshard, ${cl} client${cl > 1 ? 's' : ''}`, points: cells.filter((c) => c.clients === cl).map((c) => [c.vecshard.recall, c.vecshard.qps] as [number, number]) },
  ]));
  const data = glove ? `GloVe-100 (cosine), ${opts.queries} held-out queries` : `${opts.rows} × ${opts.dim} clustered vectors (40 Gaussian clusters, fixed seed), ${opts.queries} queries`;
  const equal = `\n\nAt equal recall (vecshard's q/s read off its own curve at each one-node recall):\n\n${equalRecallTable(cells)}`;
  report('p2', opts, cells, 'P2 sharded kNN', `${data}; one node, one HNSW table (m 16, ef_construction 64) vs vecshard with ${opts.shards} shards on ${opts.nodes} nodes, same index settings.`, head + table + equal + (chart ? `\n\nChart: ![P2](${chart})` : ''));
}

async function runP4(): Promise<void> {
  const opts = smoke
    ? { data: 'synthetic' as const, rows: 4000, queries: 20, nodes: 2, shards: 4, probes: [1, 2, 4], efSearch: [40], clients: 1, exactQueries: 5 }
    : {
        data: args.includes('--synthetic') ? ('synthetic' as const) : ('glove' as const),
        rows: flag('rows', args.includes('--synthetic') ? 200_000 : Infinity),
        queries: flag('queries', 1000),
        nodes: 2,
        shards: flag('shards', 16),
        probes: [1, 2, 4, 8, 16],
        efSearch: [40, 100, 250],
        clients: flag('clients', 4),
        exactQueries: flag('exact-queries', 100),
      };
  const r = await p4(opts, (s) => process.stderr.write(s + '\n'));
  const head = '| ef_search | probes | shards visited | clustered recall@10 | clustered q/s | hash recall@10 (all shards) | hash q/s | q/s ratio |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n';
  // The P4 goal: the best q/s each reaches with recall@10 >= 0.95.
  const best = (pts: Array<{ recall: number; qps: number }>) => Math.max(0, ...pts.filter((p) => p.recall >= 0.95).map((p) => p.qps));
  const bestHash = best(r.rows.map((x) => x.hash));
  const bestClustered = best(r.rows.map((x) => x.clustered));
  const atTarget = bestHash && bestClustered ? `${(bestClustered / bestHash).toFixed(2)}× (clustered ${bestClustered.toFixed(0)} q/s, hash ${bestHash.toFixed(0)} q/s)` : `not measurable here (recall 0.95 reached by ${bestHash ? 'hash' : bestClustered ? 'clustered' : 'neither'} only)`;
  const chart = writeChart(opts.data === 'glove' ? 'p4-recall-qps' : 'p4-recall-qps-synthetic', `P4: recall@10 vs q/s, ${opts.data === 'glove' ? 'GloVe-100' : 'synthetic'}, ${opts.shards} shards`, [
    { name: 'hash (all shards)', points: opts.efSearch.map((ef) => r.rows.find((x) => x.efSearch === ef)!.hash).map((p) => [p.recall, p.qps] as [number, number]) },
    ...opts.probes.map((p) => ({ name: `clustered, probes ${p}`, points: r.rows.filter((x) => x.probes === p).map((x) => [x.clustered.recall, x.clustered.qps] as [number, number]) })),
  ]);
  const table =
    r.rows.map((c) => `| ${c.efSearch} | ${c.probes} | ${c.clustered.visited} of ${opts.shards} | ${c.clustered.recall.toFixed(3)} | ${c.clustered.qps.toFixed(0)} | ${c.hash.recall.toFixed(3)} | ${c.hash.qps.toFixed(0)} | ${c.qpsRatio.toFixed(2)}× |`).join('\n') +
    `\n\nQ/s at recall@10 ≥ 0.95, clustered / hash: ${atTarget}.${chart ? ` Chart: ![P4](${chart})` : ''}` +
    `\n\nExact pruning (\`vecshard.exact = on\`) visited ${r.exactVisited.toFixed(1)} of ${opts.shards} shards on average over ${opts.exactQueries} queries. Builds: ${Object.entries(r.builds).map(([k, v]) => `${k} ${v.toFixed(0)} s`).join(', ')}.`;
  const data = opts.data === 'glove' ? 'GloVe-100 (glove.6B.100d, cosine), every 341st word held out as a query' : `${opts.rows} × 100 clustered synthetic vectors (50 clusters, fixed seed)`;
  report('p4', opts, r, 'P4 clustered routing vs hash', `${data}; ${opts.queries} queries over ${opts.clients} connections; ${opts.shards} shards on ${opts.nodes} nodes, one copy each; HNSW (m 16, ef_construction 64, vector_cosine_ops) per shard, ef_search as in the table; hash q/s is the median of runs interleaved with the clustered ones.`, head + table);
}

const secs = (s: number) => (Number.isNaN(s) ? '—' : s.toFixed(1));

async function runP3(): Promise<void> {
  const opts = smoke
    ? { data: 'synthetic' as const, rows: 3000, nodes: 2, shards: 4, rounds: 1 }
    : { data: args.includes('--synthetic') ? ('synthetic' as const) : ('glove' as const), rows: flag('rows', args.includes('--synthetic') ? 200_000 : Infinity), nodes: flag('nodes', 2), shards: flag('shards', 8), rounds: flag('rounds', 2), copyOnly: args.includes('--copy-only') };
  const r = await p3(opts, (s) => process.stderr.write(s + '\n'));
  const head = '| round | one node COPY s | vecshard COPY s | one node index s | vecshard index s |\n| --- | --- | --- | --- | --- |\n';
  const table =
    r.rounds.map((x, i) => `| ${i + 1} | ${x.single.copyS.toFixed(1)} | ${x.vecshard.copyS.toFixed(1)} | ${secs(x.single.indexS)} | ${secs(x.vecshard.indexS)} |`).join('\n') +
    `\n\nMedian throughput, vecshard / one node: COPY ${r.copyRatio.toFixed(2)}× (${r.rows} rows)${'copyOnly' in opts && opts.copyOnly ? ' (index builds skipped: --copy-only)' : `, HNSW build ${r.indexRatio.toFixed(2)}×`}.`;
  const data = opts.data === 'glove' ? 'GloVe-100 (all words but the 1,000 held-out queries)' : `${opts.rows} × 100 clustered synthetic vectors`;
  report('p3', opts, r, 'P3 ingest', `${data}; COPY through vecshard into ${opts.shards} shards on ${opts.nodes} nodes (one copy) vs COPY into one node; then CREATE INDEX hnsw (m 16, ef_construction 64, cosine); rounds alternate one node and vecshard.`, head + table);
}

async function runP5(): Promise<void> {
  const opts = smoke
    ? { rows: 2000, dim: 16, nodes: 2, shards: 4, queries: 100, clients: [1], rssClients: 4 }
    : { rows: flag('rows', 100_000), dim: flag('dim', 128), nodes: 2, shards: flag('shards', 4), queries: flag('queries', 4000), clients: [1, 8, 32], rssClients: 32 };
  const r = await p5(opts, (s) => process.stderr.write(s + '\n'));
  const head = '| clients | parse + plan ms | merge ms | shard wait ms | coordinator / shard time | q/s |\n| --- | --- | --- | --- | --- | --- |\n';
  const table =
    r.cost.map((c) => `| ${c.clients} | ${c.parsePlanMs.toFixed(3)} | ${c.mergeMs.toFixed(3)} | ${c.shardMs.toFixed(3)} | ${c.ratio.toFixed(3)} | ${c.qps.toFixed(0)} |`).join('\n') +
    `\n\nCoordinator RSS (\`vecshard start\` as its own process): ${r.rss.idleMiB.toFixed(0)} MiB after one query, ${r.rss.loadedMiB.toFixed(0)} MiB while ${r.rss.clients} clients run kNN queries (peak ${r.rss.peakMiB.toFixed(0)} MiB).`;
  report('p5', opts, r, 'P5 coordinator cost', `${opts.rows} × ${opts.dim} clustered vectors, ${opts.shards} shards on ${opts.nodes} nodes (HNSW per shard), kNN LIMIT 10; ${opts.queries} queries per row; means per query measured inside the coordinator (parse + plan before sending, merge after the last shard answered, shard wait = wall time of the shard round).`, head + table);
}

async function runP6(): Promise<void> {
  const opts = smoke ? { rows: 2000, dim: 16, nodes: 2, shards: 4, queries: 50, rounds: 1 } : { rows: flag('rows', 100_000), dim: flag('dim', 128), nodes: 2, shards: flag('shards', 4), queries: flag('queries', 500), rounds: flag('rounds', 3) };
  const r = await p6(opts, (s) => process.stderr.write(s + '\n'));
  const head = '| round | kNN, literal vector ms | nearest neighbours of a row ms | routed lookup ms |\n| --- | --- | --- | --- |\n';
  const table =
    r.rounds.map((x, i) => `| ${i + 1} | ${x.literalMs.toFixed(3)} | ${x.subqueryMs.toFixed(3)} | ${x.lookupMs.toFixed(3)} |`).join('\n') +
    `\n\nMedian latency, nearest neighbours of a row / kNN with a literal vector: ${r.ratio.toFixed(2)}× (${r.subqueryMs.toFixed(3)} vs ${r.literalMs.toFixed(3)} ms; one routed lookup alone ${r.lookupMs.toFixed(3)} ms, so the subquery's cost above the literal kNN is ${((r.subqueryMs - r.literalMs) / r.lookupMs).toFixed(2)} lookups).`;
  report('p6', opts, r, 'P6 nearest neighbours of a row', `${opts.rows} × ${opts.dim} clustered vectors, ${opts.shards} shards on ${opts.nodes} nodes (one copy, HNSW per shard), kNN LIMIT 10, one client, ${opts.queries} queries per round through the extended protocol; \`SELECT id FROM items WHERE id != $1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = $1) LIMIT 10\` against the same query with the row's vector as a parameter.`, head + table);
}

/** Writes an SVG chart to docs/ (not for smoke runs); returns its path relative to docs/. */
function writeChart(name: string, title: string, series: Array<{ name: string; points: Array<[number, number]> }>): string | undefined {
  if (smoke) return undefined;
  fs.writeFileSync(path.join('docs', `${name}.svg`), lineChart({ title, xLabel: 'recall@10', yLabel: 'queries per second', series }));
  return `${name}.svg`;
}

function report(scenario: string, options: unknown, cells: unknown, title: string, what: string, table: string): void {
  const date = new Date().toISOString();
  const dir = path.join('bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${scenario}-${date.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ scenario, date, machine: machine(), options, cells }, null, 2));
  process.stdout.write(`${file}\n${table}\n`);
  if (!smoke) {
    const section = `\n### ${title}, ${date.slice(0, 10)}\n\n\`npm run bench -- ${args.join(' ')}\` — ${machine()}; ${what}\n\n${table}\n`;
    fs.appendFileSync(path.join('docs', 'benchmarks.md'), section);
  }
}

await main();
