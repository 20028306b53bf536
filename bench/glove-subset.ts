// A GloVe-100 subset for tests, written to a file so the 1 GB conversion stays out of the test's process:
// `tsx bench/glove-subset.ts <rows> <queries> <file>`. The first rows + queries words, every so many held out as a
// query: queries and rows come from the same part of the vocabulary (the most frequent words).
import fs from 'node:fs';
import { loadGlove } from './glove.ts';

const [rows, queries, file] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
const all = loadGlove(1, rows + queries + 1).rows.slice(0, rows + queries);
const every = Math.floor(all.length / queries);
const held = all.filter((_, i) => i % every === every - 1).slice(0, queries);
const kept = all.filter((_, i) => i % every !== every - 1).slice(0, rows);
const out = Buffer.alloc(12 + (kept.length + held.length) * 400);
out.writeInt32LE(kept.length, 0);
out.writeInt32LE(held.length, 4);
out.writeInt32LE(100, 8);
[...kept, ...held].forEach((v, i) => Buffer.from(v.buffer, v.byteOffset, 400).copy(out, 12 + i * 400));
fs.writeFileSync(file, out);
