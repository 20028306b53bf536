// The lower bounds exact pruning relies on hold for every metric: no row of a shard is nearer than the bound.
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { lowerBound, grow, type ShardGeometry } from '../../src/index/bounds.ts';
import { distance, type Metric } from '../../src/index/distance.ts';
import { kmeans, nearest } from '../../src/index/kmeans.ts';

const vec = (dim: number) => fc.array(fc.float({ min: -10, max: 10, noNaN: true, noDefaultInfinity: true }), { minLength: dim, maxLength: dim }).map((a) => Float32Array.from(a));

for (const metric of ['l2', 'cosine', 'ip', 'l1'] as Metric[]) {
  it(`${metric}: the bound is below the distance to every row of the shard`, () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }).chain((dim) => fc.tuple(vec(dim), vec(dim), fc.array(vec(dim), { minLength: 1, maxLength: 30 }))),
        ([q, c, rows]) => {
          let g: ShardGeometry = { centroid: c, radiusL2: 0, radiusAngle: 0 };
          for (const x of rows) g = { ...g, ...grow(g, x) };
          const lb = lowerBound(metric, q, g);
          for (const x of rows) {
            const d = distance(metric, q, x);
            if (Number.isNaN(d)) continue;
            expect(lb).toBeLessThanOrEqual(d + 1e-6 * Math.max(1, Math.abs(d)));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
}

it('k-means with a fixed seed finds separated clusters, the same every time', () => {
  const centres = [
    [0, 0],
    [10, 10],
    [-10, 10],
  ];
  const pts = centres.flatMap(([a, b], i) => Array.from({ length: 50 }, (_, j) => Float32Array.from([a + Math.sin(i * 50 + j), b + Math.cos(i * 50 + j)])));
  const c1 = kmeans(pts, 3, 'l2', 7);
  const c2 = kmeans(pts, 3, 'l2', 7);
  expect(c1).toEqual(c2);
  const groups = centres.map((c) => nearest('l2', Float32Array.from(c), c1));
  expect(new Set(groups).size).toBe(3);
});
