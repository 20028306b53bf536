import { expect, test } from 'vitest';
import { Metrics } from '../../src/observe/metrics.ts';

test('statement counts and histograms read as Prometheus text', async () => {
  const m = new Metrics();
  m.statement('knn', 3);
  m.statement('knn', 0.2);
  m.relayed('local');
  m.shardRoundTrip(1, 2);
  const lines = (await m.text()).split('\n');
  const has = (l: string) => expect(lines).toContain(l);
  has('vecshard_statements_total{kind="knn"} 2');
  has('vecshard_statements_total{kind="local"} 1');
  has('# TYPE vecshard_statement_duration_seconds histogram');
  // Cumulative buckets: 0.2 ms falls in the first (0.5 ms), 3 ms in the 5 ms one.
  has('vecshard_statement_duration_seconds_bucket{le="0.0005",kind="knn"} 1');
  has('vecshard_statement_duration_seconds_bucket{le="0.0025",kind="knn"} 1');
  has('vecshard_statement_duration_seconds_bucket{le="0.005",kind="knn"} 2');
  has('vecshard_statement_duration_seconds_bucket{le="+Inf",kind="knn"} 2');
  has('vecshard_statement_duration_seconds_count{kind="knn"} 2');
  expect(lines.find((l) => l.startsWith('vecshard_statement_duration_seconds_sum{kind="knn"}'))).toMatch(/ 0\.0032$/);
  has('vecshard_shard_query_duration_seconds_count{node="1"} 1');
  expect(lines.some((l) => l.includes('duration_seconds') && l.includes('kind="local"'))).toBe(false);
});
