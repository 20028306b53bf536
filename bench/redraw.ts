// Draws a saved result's chart again: npx tsx bench/redraw.ts bench/results/p1-<time>.json
import fs from 'node:fs';
import path from 'node:path';
import { p1Chart } from './charts.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: npx tsx bench/redraw.ts bench/results/<scenario>-<time>.json\n');
  process.exit(2);
}
const result = JSON.parse(fs.readFileSync(file, 'utf8'));
if (result.scenario !== 'p1') {
  process.stderr.write(`bench/redraw.ts draws p1 results; ${result.scenario} charts are drawn by the run itself\n`);
  process.exit(2);
}
fs.writeFileSync(path.join('docs', 'p1-tps.svg'), p1Chart(result.cells));
process.stdout.write('docs/p1-tps.svg\n');
