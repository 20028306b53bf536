// vecshard.target_recall's choice of settings from a calibration, without a server.
import { expect, it } from 'vitest';
import type { CalibrationPoint, DistributedTable } from '../metadata/catalog.ts';
import { nearestShards, targetSettings } from './target-recall.ts';

const point = (probes: number, efSearch: number, recall: number): CalibrationPoint => ({ probes, efSearch, recall, k: 10, queries: 100, tableRows: 1000 });
const table = (method: DistributedTable['method'], points: CalibrationPoint[]): DistributedTable => ({
  schema: 'public',
  name: 't',
  columns: [],
  method,
  distColumn: 'v',
  distType: 'vector',
  metric: 'l2',
  shards: [0, 1, 2, 3].map((i) => ({ id: i + 1, index: i, name: `t_000${i}`, minHash: 0, maxHash: 0, nodes: [0], geometry: { centroid: Float32Array.from([i * 10, 0]), radiusL2: 1, radiusAngle: 1 } })),
  calibration: new Map([['<->', points]]),
});

it('hash tables: the smallest ef_search that reaches the target, between measured settings by interpolation', () => {
  const t = table('hash', [point(0, 10, 0.8), point(0, 20, 0.9), point(0, 40, 0.96)]);
  expect(targetSettings(t, '<->', 0.8)).toMatchObject({ efSearch: 10 });
  expect(targetSettings(t, '<->', 0.925)).toMatchObject({ efSearch: 29, recall: 0.925 });
  // Out of reach: the best measured.
  expect(targetSettings(t, '<->', 0.99)).toMatchObject({ efSearch: 40, recall: 0.96 });
  expect(targetSettings(table('hash', []), '<->', 0.9)).toMatchObject({ kind: 'error', error: { code: '55000' } });
});

it('clustered tables: the pair of probes and ef_search that reaches the target for the least work', () => {
  const t = table('clustered', [
    // One shard holds at most 85% of the neighbours, whatever ef_search.
    point(1, 10, 0.7), point(1, 40, 0.85), point(1, 80, 0.85),
    point(2, 10, 0.8), point(2, 40, 0.92),
    point(4, 10, 0.91), point(4, 16, 0.97),
  ]);
  // 4 shards × ef 10 (40) is less work than 2 × 40 (80).
  expect(targetSettings(t, '<->', 0.9)).toMatchObject({ probes: 4, efSearch: 10 });
  // A query whose per-shard LIMIT raises ef_search to 30 anyway: 2 × 40 = 80 beats 4 × 30 = 120.
  expect(targetSettings(t, '<->', 0.9, 30)).toMatchObject({ probes: 2 });
  expect(targetSettings(t, '<->', 0.7)).toMatchObject({ probes: 1, efSearch: 10 });
  // One shard would need ef_search 30 for 0.8 (30); two shards at 10 do it for 20.
  expect(targetSettings(t, '<->', 0.8)).toMatchObject({ probes: 2, efSearch: 10 });
  expect(targetSettings(t, '<->', 0.99)).toMatchObject({ probes: 4, efSearch: 16, recall: 0.97 });
});

it('the nearest shards by centroid, nearest first', () => {
  expect(nearestShards(table('clustered', []), Float32Array.from([21, 0]), 2)).toEqual([2, 3]);
});
