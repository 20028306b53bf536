// P2 at equal recall: for each one-node point (its recall and q/s), vecshard's q/s at that same recall, read off its
// own curve (linearly between measured ef_search settings). `tsx bench/equal-recall.ts bench/results/p2-….json`
// prints the table for a stored run; bench/run.ts adds it to every P2 report.
import fs from 'node:fs';
import type { P2Cell } from './p2.ts';

/** Q/s on a recall-vs-q/s curve at `recall`; below its lowest recall the lowest point's q/s ("at least"). */
function atRecall(points: Array<{ recall: number; qps: number }>, recall: number): { qps: number; atLeast: boolean } | undefined {
  const p = [...points].sort((a, b) => a.recall - b.recall);
  if (!p.length || recall > p[p.length - 1].recall) return undefined;
  if (recall <= p[0].recall) return { qps: p[0].qps, atLeast: true };
  const i = p.findIndex((x) => x.recall >= recall);
  const [a, b] = [p[i - 1], p[i]];
  return { qps: b.recall === a.recall ? b.qps : a.qps + ((recall - a.recall) / (b.recall - a.recall)) * (b.qps - a.qps), atLeast: false };
}

export function equalRecallTable(cells: P2Cell[]): string {
  const rows: string[] = [];
  for (const clients of [...new Set(cells.map((c) => c.clients))]) {
    const mine = cells.filter((c) => c.clients === clients);
    for (const c of mine) {
      const v = atRecall(mine.map((x) => x.vecshard), c.single.recall);
      const cell = v ? `${v.atLeast ? '≥ ' : ''}${v.qps.toFixed(0)} | ${v.atLeast ? '≥ ' : ''}${(v.qps / c.single.qps).toFixed(2)}×` : 'not reached | —';
      rows.push(`| ${clients} | ${c.single.recall.toFixed(3)} | ${c.single.qps.toFixed(0)} (ef_search ${c.efSearch}) | ${cell} |`);
    }
  }
  return `| clients | recall@10 | one node q/s | vecshard q/s at that recall | ratio |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}`;
}

if (process.argv[1]?.endsWith('equal-recall.ts') && process.argv[2]) {
  const run = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as { cells: P2Cell[] };
  process.stdout.write(equalRecallTable(run.cells) + '\n');
}
