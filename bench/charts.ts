// The charts each scenario draws into docs/, from its cells (so a saved result can be drawn again: bench/redraw.ts).
import { barChart } from './svg.ts';
import type { P1Cell } from './p1.ts';

export function p1Chart(cells: P1Cell[]): string {
  return barChart({
    title: 'P1: pgbench -S transactions per second, one node',
    yLabel: 'transactions per second',
    groups: cells.map((c) => `${c.mode}, ${c.clients} client${c.clients > 1 ? 's' : ''}`),
    series: [
      { name: 'direct', values: cells.map((c) => c.median.direct) },
      { name: 'PgBouncer', values: cells.map((c) => c.median.pgbouncer) },
      { name: 'vecshard', values: cells.map((c) => c.median.vecshard) },
      // Results saved before the distributed lookups were measured have no such series.
      ...(cells.every((c) => c.median.distributed) ? [{ name: 'distributed table', values: cells.map((c) => c.median.distributed) }] : []),
    ],
  });
}
