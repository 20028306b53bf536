// Distances as pgvector's operators define them, for routing rows and queries to shards and for bounds.
import type { Vec } from './vector.ts';

/** l2: <->, cosine: <=>, ip: <#> (negative inner product), l1: <+>. */
export type Metric = 'l2' | 'cosine' | 'ip' | 'l1';

export const OPERATOR_METRIC: Record<string, Metric> = { '<->': 'l2', '<=>': 'cosine', '<#>': 'ip', '<+>': 'l1' };

/** The metric of a vector index opclass (vector_l2_ops ...), if it is one. */
export function opclassMetric(opclass: string): Metric | undefined {
  const m = /_(l2|cosine|ip|l1)_ops$/.exec(opclass);
  return m ? (m[1] as Metric) : undefined;
}

export function dot(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: Vec): number {
  return Math.sqrt(dot(a, a));
}

export function l2(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    s += d * d;
  }
  return Math.sqrt(s);
}

export function l1(a: Vec, b: Vec): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s;
}

/** Cosine of the angle between a and b; NaN when either is zero (pgvector's cosine distance is NaN there too). */
export function cosine(a: Vec, b: Vec): number {
  return dot(a, b) / (norm(a) * norm(b));
}

export function distance(metric: Metric, a: Vec, b: Vec): number {
  switch (metric) {
    case 'l2':
      return l2(a, b);
    case 'cosine':
      return 1 - cosine(a, b);
    case 'ip':
      return -dot(a, b);
    case 'l1':
      return l1(a, b);
  }
}
