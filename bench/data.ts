// Fixed-seed clustered vectors: a Gaussian mixture (real structure, unlike uniform noise, HNSW's worst case).

/** mulberry32: 32-bit integer steps, so the sequence does not collapse the way float LCGs do. */
export function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function clustered(rows: number, queries: number, dim: number, clusters: number, seed = 42): { rows: number[][]; queries: number[][] } {
  const rand = random(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centers = Array.from({ length: clusters }, () => Array.from({ length: dim }, () => gauss()));
  const point = () => {
    const c = centers[Math.floor(rand() * clusters)];
    return c.map((x) => Number((x + 0.3 * gauss()).toFixed(3)));
  };
  return { rows: Array.from({ length: rows }, point), queries: Array.from({ length: queries }, point) };
}

export const toSql = (v: number[]) => `[${v.join(',')}]`;
