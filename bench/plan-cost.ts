// The coordinator's CPU per statement before it sends anything: parse + plan of a routed lookup and of a kNN query,
// each with a new literal every time (as pgbench -M simple sends them), against the catalog of the planner's tests.
// npx tsx bench/plan-cost.ts [--n 20000]
import { loadParser, plan } from '../test/helpers/planner.ts';

const i = process.argv.indexOf('--n');
const n = i >= 0 ? Number(process.argv[i + 1]) : 20_000;
await loadParser();
const time = async (label: string, fn: (i: number) => unknown) => {
  for (let k = 0; k < 2000; k++) await fn(k + 1e6); // warm-up: compiled, caches at their steady size
  const t0 = performance.now();
  for (let k = 0; k < n; k++) await fn(k);
  console.log(`| ${label} | ${(((performance.now() - t0) / n) * 1000).toFixed(1)} |`);
};
console.log('| statement (a new literal each time) | parse + plan µs |\n| --- | --- |');
await time('routed lookup `SELECT title FROM items WHERE id = <k>`', (k) => plan(`SELECT title FROM items WHERE id = ${k}`));
await time("kNN `... WHERE tenant = <k> ORDER BY embedding <-> '[1,2,3]' LIMIT 10`", (k) => plan(`SELECT title FROM items WHERE tenant = ${k} ORDER BY embedding <-> '[1,2,3]' LIMIT 10`));
