// How much recall centroid routing allows on GloVe-100, whatever the per-shard index: k-means (as
// create_distributed_table does it: spherical, fixed seed, a ~20k sample) gives each row its shard and each query
// its probes nearest shards; the ceiling is the share of the exact top-10 that lies in those shards.
// npx tsx bench/route-ceiling.ts [shards]   (needs the GloVe cache and its ground truth from `npm run bench -- p4`)
import { loadGlove } from './glove.ts';
import { groundTruth } from './p4.ts';
import { kmeans, nearest } from '../src/index/kmeans.ts';
import { distance } from '../src/index/distance.ts';

const k = Number(process.argv[2] ?? 16);
const { rows, queries } = loadGlove(1000);
const truth = groundTruth(rows, queries, `glove-${rows.length}-${queries.length}`);
const sample = rows.filter((_, i) => i % Math.max(1, Math.floor(rows.length / 20000)) === 0);
const centroids = kmeans(sample, k, 'cosine');
const shardOf = rows.map((r) => nearest('cosine', r, centroids));
const sizes = new Array<number>(k).fill(0);
for (const s of shardOf) sizes[s]++;
process.stdout.write(`${rows.length} rows in ${k} shards, largest to smallest: ${[...sizes].sort((a, b) => b - a).join(' ')}\n`);
for (let probes = 1; probes <= k; probes *= 2) {
  let found = 0;
  queries.forEach((q, i) => {
    const visit = new Set(centroids.map((c, j) => [distance('cosine', q, c), j]).sort((a, b) => a[0] - b[0]).slice(0, probes).map(([, j]) => j));
    for (const id of truth[i]) if (visit.has(shardOf[id])) found++;
  });
  process.stdout.write(`probes ${probes}: at most recall@10 ${(found / (queries.length * 10)).toFixed(3)}\n`);
}
