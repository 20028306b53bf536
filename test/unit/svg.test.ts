// The benchmark charts: round ticks, points inside the plot, one curve and legend entry per series.
import { expect, it } from 'vitest';
import { barChart, lineChart, ticks } from '../../bench/svg.ts';

it('picks round ticks covering the range', () => {
  expect(ticks(0, 100)).toEqual([0, 20, 40, 60, 80, 100]);
  expect(ticks(0.6, 0.97)).toEqual([0.6, 0.7, 0.8, 0.9]);
});

it('draws each series as a path with its points and a legend entry', () => {
  const svg = lineChart({ title: 'a < b', xLabel: 'recall', yLabel: 'q/s', series: [{ name: 'hash', points: [[0.9, 80], [0.96, 60]] }, { name: 'clustered', points: [[0.6, 700]] }] });
  expect(svg.startsWith('<svg')).toBe(true);
  expect(svg).toContain('a &lt; b');
  expect(svg.match(/<path /g)!.length).toBe(2);
  expect(svg.match(/<circle /g)!.length).toBe(3);
  for (const [, x, y] of svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)"/g)) {
    expect(Number(x)).toBeGreaterThanOrEqual(70);
    expect(Number(x)).toBeLessThanOrEqual(720 - 200);
    expect(Number(y)).toBeGreaterThanOrEqual(40);
    expect(Number(y)).toBeLessThanOrEqual(420 - 50);
  }
  expect(svg).toContain('>clustered</text>');
});

it('draws one bar per series in each group, scaled to the largest value, with a legend', () => {
  const svg = barChart({ title: 'P1', yLabel: 'tps', groups: ['1 client', '8 clients'], series: [{ name: 'direct', values: [100, 400] }, { name: 'vecshard', values: [50, 200] }] });
  // Bars (they carry a <title>), group by group: direct then vecshard.
  const bars = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>/g)].map((m) => Number(m[1]));
  expect(bars).toHaveLength(4);
  expect(bars[2] / bars[0]).toBeCloseTo(4, 1); // direct: 400 vs 100
  expect(bars[0] / bars[1]).toBeCloseTo(2, 1); // 1 client: direct 100 vs vecshard 50
  expect(svg).toContain('>8 clients</tspan>');
  expect(svg).toContain('>vecshard</text>');
});
