// SET vecshard.target_recall: the settings a kNN query runs with, picked from the table's calibration
// (operations/calibrate.ts). Hash tables: the smallest hnsw.ef_search that reached the target on every shard.
// Clustered tables: a number of nearest shards (probes) and an ef_search, the pair that reached it for the least
// work (shards visited × ef_search).
import type { CalibrationPoint, DistributedTable } from '../metadata/catalog.ts';
import { distance } from '../index/distance.ts';
import type { Vec } from '../index/vector.ts';
import { routingMetric } from '../index/kmeans.ts';
import type { ErrorPlan } from './types.ts';

/** The `probes` shards of a clustered table whose centroids are nearest `q`, nearest first. */
export function nearestShards(table: DistributedTable, q: Vec, probes: number): number[] {
  const route = routingMetric(table.metric ?? 'l2');
  return table.shards
    .map((s) => ({ i: s.index, d: distance(route, q, s.geometry!.centroid) }))
    .sort((a, b) => a.d - b.d || a.i - b.i)
    .slice(0, probes)
    .map((x) => x.i);
}

/** Where `points` (one probes value, by ef_search) reach `target`: interpolated between two measured settings. */
function efFor(points: CalibrationPoint[], target: number): CalibrationPoint | undefined {
  const i = points.findIndex((p) => p.recall >= target);
  if (i < 0) return undefined;
  if (i === 0) return points[0];
  // Between two measured settings, linearly: recall grows ever more slowly with ef_search, so this errs upward.
  const [a, b] = [points[i - 1], points[i]];
  const efSearch = Math.ceil(a.efSearch + ((target - a.recall) / (b.recall - a.recall)) * (b.efSearch - a.efSearch));
  return { ...b, efSearch, recall: target };
}

/**
 * The settings the calibration says reach `target` (the best measured when none did); `minEf` is the ef_search
 * the query gets anyway (its per-shard LIMIT), which counts in a clustered pair's work.
 */
export function targetSettings(table: DistributedTable, op: string, target: number, minEf = 0): CalibrationPoint | ErrorPlan {
  const all = table.calibration?.get(op) ?? [];
  const routed = table.method === 'clustered' ? all.filter((p) => p.probes > 0) : [];
  const points = routed.length ? routed : all.filter((p) => p.probes === 0);
  if (!points.length) {
    return { kind: 'error', error: { severity: 'ERROR', code: '55000', message: `vecshard.target_recall: "${table.name}" has no recall calibration for ${op}`, hint: `Run SELECT vecshard.calibrate('${table.schema}.${table.name}') once its rows and HNSW index are in.` } };
  }
  const byProbes = new Map<number, CalibrationPoint[]>();
  for (const p of points) byProbes.set(p.probes, [...(byProbes.get(p.probes) ?? []), p]);
  let best: CalibrationPoint | undefined;
  const work = (p: CalibrationPoint) => Math.max(1, p.probes) * Math.max(p.efSearch, minEf);
  for (const list of byProbes.values()) {
    const p = efFor(list.sort((a, b) => a.efSearch - b.efSearch), target);
    if (p && (!best || work(p) < work(best))) best = p;
  }
  return best ?? points.reduce((a, b) => (b.recall > a.recall || (b.recall === a.recall && work(b) < work(a)) ? b : a));
}
