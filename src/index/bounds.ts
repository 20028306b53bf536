// How far a query can be from anything in a shard: each clustered shard keeps its centroid and radii (upper
// bounds on how far its rows are from the centroid), and these give a lower bound on the query's distance to
// every row of the shard. A shard whose bound is above the k-th best distance found so far cannot change the answer.
import { cosine, distance, dot, norm, type Metric } from './distance.ts';
import type { Vec } from './vector.ts';

export interface ShardGeometry {
  centroid: Vec;
  /** Upper bound on ‖x − c‖ over the shard's rows. */
  radiusL2: number;
  /** Upper bound on the angle (radians) between x and c; π when a row is the zero vector. */
  radiusAngle: number;
}

/** A radius a hair wider than computed, as stored in the catalog: pgvector computes in single precision. */
export function widen(r: number, max = Infinity): number {
  return Math.min(max, r * (1 + 1e-6) + 1e-9);
}

/** The radii that cover `x` too (they only grow). */
export function grow(g: ShardGeometry, x: Vec): { radiusL2: number; radiusAngle: number } {
  const c = cosine(x, g.centroid);
  const angle = Number.isNaN(c) ? Math.PI : Math.acos(Math.min(1, Math.max(-1, c)));
  return { radiusL2: Math.max(g.radiusL2, distance('l2', x, g.centroid)), radiusAngle: Math.max(g.radiusAngle, angle) };
}

/**
 * A lower bound on distance(metric, q, x) for every x in the shard:
 *  l2: ‖q − x‖ ≥ ‖q − c‖ − ‖x − c‖ (triangle inequality);
 *  l1: ‖q − x‖₁ ≥ ‖q − c‖₁ − ‖x − c‖₁ ≥ ‖q − c‖₁ − √d·‖x − c‖;
 *  ip: −q·x = −q·c − q·(x − c) ≥ −q·c − ‖q‖·‖x − c‖ (Cauchy–Schwarz);
 *  cosine: the angle is a metric on the sphere, so ∠(q, x) ≥ ∠(q, c) − ∠(x, c), and 1 − cos is increasing in it.
 * −Infinity where no bound holds (a zero query vector under cosine).
 */
export function lowerBound(metric: Metric, q: Vec, g: ShardGeometry): number {
  switch (metric) {
    case 'l2':
      return distance('l2', q, g.centroid) - g.radiusL2;
    case 'l1':
      return distance('l1', q, g.centroid) - Math.sqrt(q.length) * g.radiusL2;
    case 'ip':
      return -dot(q, g.centroid) - norm(q) * g.radiusL2;
    case 'cosine': {
      const c = cosine(q, g.centroid);
      if (Number.isNaN(c)) return -Infinity;
      const angle = Math.acos(Math.min(1, Math.max(-1, c)));
      return 1 - Math.cos(Math.max(0, angle - g.radiusAngle));
    }
  }
}

/**
 * Whether a shard with bound `bound` may hold a row that belongs in the answer whose k-th distance is `kth`. The
 * margin covers pgvector computing in single precision.
 */
export function mayContribute(bound: number, kth: number): boolean {
  if (!Number.isFinite(kth)) return true;
  return bound <= kth + 1e-5 * Math.max(1, Math.abs(kth));
}
