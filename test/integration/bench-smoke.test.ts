// The benchmark harness must not rot: a tiny P1 run (seconds) through all four targets, checked for sane numbers.
import { expect, it } from 'vitest';
import { p1 } from '../../bench/p1.ts';

it('bench p1 smoke: pgbench through direct, PgBouncer, vecshard and vecshard on a distributed table all complete with positive throughput', async () => {
  const cells = await p1({ seconds: 1, clients: [2], modes: ['prepared'], rounds: 1, scale: 1 });
  expect(cells.length).toBe(1);
  for (const t of ['direct', 'pgbouncer', 'vecshard', 'distributed'] as const) {
    expect(cells[0].tps[t].length).toBe(1);
    expect(cells[0].median[t]).toBeGreaterThan(0);
  }
  expect(cells[0].vsDirect).toBeGreaterThan(0);
  expect(Number.isFinite(cells[0].vsPgbouncer)).toBe(true);
  expect(cells[0].distributedVsDirect).toBeGreaterThan(0);
});

it('bench p4 smoke: clustered vs hash routing produces recall and throughput for every probes value', async () => {
  const { p4 } = await import('../../bench/p4.ts');
  const r = await p4({ data: 'synthetic', rows: 3000, queries: 10, nodes: 2, shards: 4, probes: [1, 4], efSearch: [40], clients: 1, exactQueries: 3 });
  expect(r.rows.map((x) => x.probes)).toEqual([1, 4]);
  for (const row of r.rows) {
    expect(row.clustered.recall).toBeGreaterThan(0);
    expect(row.clustered.recall).toBeLessThanOrEqual(1);
    expect(row.hash.qps).toBeGreaterThan(0);
  }
  // Visiting every shard of the clustered table finds what the hash table finds.
  expect(r.rows[1].clustered.recall).toBeCloseTo(r.rows[1].hash.recall, 1);
  expect(r.exactVisited).toBeGreaterThanOrEqual(1);
  expect(r.exactVisited).toBeLessThanOrEqual(4);
}, 120_000);

it('bench p5 smoke: coordinator time and shard time per kNN query, and the coordinator process RSS', async () => {
  const { p5 } = await import('../../bench/p5.ts');
  const r = await p5({ rows: 1000, dim: 8, nodes: 2, shards: 2, queries: 40, clients: [2], rssClients: 3 });
  expect(r.cost.length).toBe(1);
  expect(r.cost[0].queries).toBe(40);
  expect(r.cost[0].shardMs).toBeGreaterThan(0);
  expect(r.cost[0].parsePlanMs).toBeGreaterThan(0);
  expect(r.rss.idleMiB).toBeGreaterThan(10);
  expect(r.rss.peakMiB).toBeGreaterThanOrEqual(r.rss.loadedMiB);
}, 120_000);
