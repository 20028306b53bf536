// k-means with k-means++ seeding and a fixed seed: the centroids of a clustered table's shards. Cosine clusters
// directions (spherical k-means: vectors and centroids normalised); l2 and l1 cluster points; inner product, which
// is not a distance, clusters points by l2 (see routingMetric).
import { distance, norm, type Metric } from './distance.ts';
import type { Vec } from './vector.ts';

/** The metric rows and queries are routed by: a row goes to the shard of its nearest centroid under it. */
export function routingMetric(metric: Metric): Metric {
  return metric === 'ip' ? 'l2' : metric;
}

/** mulberry32: a small seeded generator, so the same rows always give the same centroids. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normalized(v: Vec): Vec {
  const n = norm(v);
  if (!(n > 0)) return v;
  return v.map((x) => x / n);
}

/** Index of the centroid nearest to x. */
export function nearest(metric: Metric, x: Vec, centroids: Vec[]): number {
  let best = 0;
  let bestD = Infinity;
  for (let i = 0; i < centroids.length; i++) {
    const d = distance(metric, x, centroids[i]);
    if (d < bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

export function kmeans(points: Vec[], k: number, metric: Metric, seed = 42, iterations = 20): Vec[] {
  if (points.length < k) throw new Error(`k-means needs at least ${k} points, got ${points.length}`);
  const m = routingMetric(metric);
  const spherical = m === 'cosine';
  const data = spherical ? points.map(normalized) : points;
  const rand = rng(seed);
  const dim = data[0].length;
  // k-means++: each next seed drawn with probability proportional to its squared distance to the nearest seed.
  const centroids: Vec[] = [Float32Array.from(data[Math.floor(rand() * data.length)])];
  const d2 = data.map((x) => distance(m, x, centroids[0]) ** 2);
  while (centroids.length < k) {
    const total = d2.reduce((a, b) => a + (Number.isFinite(b) ? b : 0), 0);
    let pick = 0;
    if (total > 0) {
      let r = rand() * total;
      for (pick = 0; pick < data.length - 1; pick++) {
        r -= Number.isFinite(d2[pick]) ? d2[pick] : 0;
        if (r <= 0) break;
      }
    } else pick = Math.floor(rand() * data.length);
    const c = Float32Array.from(data[pick]);
    centroids.push(c);
    for (let i = 0; i < data.length; i++) d2[i] = Math.min(d2[i], distance(m, data[i], c) ** 2);
  }
  const assign = new Int32Array(data.length);
  for (let it = 0; it < iterations; it++) {
    let changed = 0;
    for (let i = 0; i < data.length; i++) {
      const a = nearest(m, data[i], centroids);
      if (a !== assign[i] || it === 0) changed++;
      assign[i] = a;
    }
    const sums = Array.from({ length: k }, () => new Float64Array(dim));
    const counts = new Int32Array(k);
    for (let i = 0; i < data.length; i++) {
      const s = sums[assign[i]];
      for (let j = 0; j < dim; j++) s[j] += data[i][j];
      counts[assign[i]]++;
    }
    for (let c = 0; c < k; c++) {
      // An empty cluster keeps its centroid.
      if (!counts[c]) continue;
      const v = Float32Array.from(sums[c], (x) => x / counts[c]);
      centroids[c] = spherical ? normalized(v) : v;
    }
    if (!changed) break;
  }
  return centroids;
}
