// npm run demo, small: real fortunes embedded by the real model into embedded nodes, a question by meaning
// (clustered kNN, a few shards) and a lookup by id (one shard), each answer naming the shards it touched.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { runTs } from '../helpers/wait.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-demo-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function demo(...args: string[]): Promise<string> {
  const r = await runTs('demo/fortunes.ts', ['--data-dir', dir, '--limit', '80', ...args], { timeoutMs: 110_000 });
  if (r.code !== 0) throw new Error(`demo exited with ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

it('answers a question by meaning from the nearest shards, and a lookup by id from one shard', async () => {
  const first = await demo('--ask', 'computers and programs');
  expect(first).toMatch(/Embedding 80 fortunes/);
  expect(first).toMatch(/#\d+ {2}similarity 0\.\d{3}/g);
  expect(first.match(/similarity/g)).toHaveLength(5);
  expect(first).toMatch(/nearest by meaning in [\d.]+ ms — knn clustered: the 3 of 8 shards/);
  expect(first).toMatch(/Shards visited: 3 of 8/);
  expect(first.match(/node \d, shard fortune_vectors_\d{4} \(time=[\d.]+ ms\)/g)).toHaveLength(3);

  const second = await demo('--ask', '7');
  expect(second).toMatch(/Using the 80 fortunes already loaded/);
  expect(second).toMatch(/#7 \(\w+\):\n/);
  expect(second).toMatch(/exact lookup by id in [\d.]+ ms — router: id = 7\n {4}node \d, shard fortunes_\d{4} \(time=[\d.]+ ms\)\n$/);
}, 240_000);
