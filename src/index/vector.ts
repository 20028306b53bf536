// Vector values as they travel: pgvector's text form '[1,2,3]' and its binary form (int16 dim, int16 unused,
// float4 × dim, big-endian).

export type Vec = Float32Array;

/** Parses pgvector's text form; undefined when it is not one. */
export function parseVector(text: string): Vec | undefined {
  const t = text.trim();
  if (!t.startsWith('[') || !t.endsWith(']')) return undefined;
  const body = t.slice(1, -1).trim();
  if (!body) return undefined;
  const parts = body.split(',');
  const v = new Float32Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const x = Number(parts[i]);
    if (!Number.isFinite(x)) return undefined;
    v[i] = x;
  }
  return v;
}

export function decodeBinaryVector(b: Buffer): Vec | undefined {
  if (b.length < 4) return undefined;
  const dim = b.readInt16BE(0);
  if (b.length !== 4 + 4 * dim) return undefined;
  const v = new Float32Array(dim);
  for (let i = 0; i < dim; i++) v[i] = b.readFloatBE(4 + 4 * i);
  return v;
}

export function formatVector(v: ArrayLike<number>): string {
  return `[${Array.from(v, (x) => String(Math.fround(x))).join(',')}]`;
}
