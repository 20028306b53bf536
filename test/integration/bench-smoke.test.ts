// The benchmark harness must not rot: a tiny P1 run (seconds) through all three targets, checked for sane numbers.
import { expect, it } from 'vitest';
import { p1 } from '../../bench/p1.ts';

it('bench p1 smoke: pgbench through direct, PgBouncer and vecshard all complete with positive throughput', async () => {
  const cells = await p1({ seconds: 1, clients: [2], modes: ['prepared'], rounds: 1, scale: 1 });
  expect(cells.length).toBe(1);
  for (const t of ['direct', 'pgbouncer', 'vecshard'] as const) {
    expect(cells[0].tps[t].length).toBe(1);
    expect(cells[0].median[t]).toBeGreaterThan(0);
  }
  expect(cells[0].vsDirect).toBeGreaterThan(0);
  expect(Number.isFinite(cells[0].vsPgbouncer)).toBe(true);
});
