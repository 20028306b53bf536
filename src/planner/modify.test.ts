// UPDATE and DELETE plans without a server: routed by the distribution column, or on every shard.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';
import { hashInt8, shardIndexForHash } from '../metadata/hash.ts';

beforeAll(() => loadParser());

it('routes an UPDATE by the distribution column to one shard', async () => {
  const p = await plan("UPDATE items SET title = 'x' WHERE id = 5");
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p).toMatchObject({ command: 'UPDATE', write: true, strategy: 'router: id = 5' });
  expect(p.tasks.map((t) => t.shardIndex)).toEqual([shardIndexForHash(hashInt8(5n), 4)]);
});

it('runs a DELETE without the distribution column on every shard', async () => {
  const p = await plan('DELETE FROM items WHERE tenant = 3');
  if (p.kind !== 'distributed') throw new Error(p.kind);
  expect(p).toMatchObject({ command: 'DELETE', write: true, strategy: 'every shard' });
  expect(p.tasks.map((t) => t.sql)).toEqual([0, 1, 2, 3].map((i) => `DELETE FROM vecshard_shards.items_000${i} AS items WHERE tenant = 3`));
});
