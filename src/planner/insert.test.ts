// INSERT plans without a server: each row to the shard its distribution value hashes to, on every copy.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';
import { hashInt8, shardIndexForHash } from '../metadata/hash.ts';

beforeAll(() => loadParser());

it('routes each row of a multi-row VALUES to its shard and remembers the rows order', async () => {
  const p = await plan("INSERT INTO items (id, title) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p).toMatchObject({ command: 'INSERT', write: true });
  const byRow = new Map<number, number>();
  for (const t of p.tasks) for (const r of t.rowOrder ?? []) byRow.set(r, t.shardIndex);
  expect([0, 1, 2].map((r) => byRow.get(r))).toEqual([1n, 2n, 3n].map((id) => shardIndexForHash(hashInt8(id), 4)));
  for (const t of p.tasks) expect(t.sql).toMatch(new RegExp(`^INSERT INTO vecshard_shards\\.${t.shard} AS items \\(id, title\\) VALUES `));
});

it('takes a parameter as the distribution value', async () => {
  const p = await plan('INSERT INTO items (id, title) VALUES ($1, $2)', ['42', 'x']);
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p.tasks.map((t) => t.shardIndex)).toEqual([shardIndexForHash(hashInt8(42n), 4)]);
});
