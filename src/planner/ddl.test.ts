// DDL plans without a server: the statement on the shell and on every copy of every shard.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';

beforeAll(() => loadParser());

it('creates an index on every copy of every shard', async () => {
  const p = await plan('CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)');
  if (p.kind !== 'ddl') throw new Error(p.kind);
  expect(p.shell).toBe('CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops)');
  expect(p.transactional).toBe(true);
  // 4 shards × 2 copies, each on the node of that copy.
  expect(p.tasks.map((t) => `${t.shard}@${t.nodeId}`).sort()).toEqual(['items_0000@0', 'items_0000@1', 'items_0001@0', 'items_0001@1', 'items_0002@0', 'items_0002@1', 'items_0003@0', 'items_0003@1']);
  for (const t of p.tasks) expect(t.sql).toBe(`CREATE INDEX ON vecshard_shards.${t.shard} USING hnsw (embedding vector_cosine_ops)`);
});

it('adds a column to the shell and every shard copy', async () => {
  const p = await plan('ALTER TABLE items ADD COLUMN note text');
  if (p.kind !== 'ddl') throw new Error(p.kind);
  expect(p.tasks).toHaveLength(8);
  expect(p.tasks[0].sql).toMatch(/^ALTER TABLE vecshard_shards\.items_000\d ADD COLUMN note text$/);
  expect(p.shell).toBe('ALTER TABLE items ADD COLUMN note text');
});

it('cannot build an index concurrently inside a transaction', async () => {
  const p = await plan('CREATE INDEX CONCURRENTLY ON items (tenant)');
  expect(p).toMatchObject({ kind: 'ddl', transactional: false });
});

it('leaves the plain tables a TRUNCATE or DROP TABLE also names to the home node, where they live', async () => {
  const t = await plan('TRUNCATE items, notes RESTART IDENTITY');
  if (t.kind !== 'ddl') throw new Error(t.kind);
  expect(t.shell).toBe('TRUNCATE items, notes RESTART IDENTITY');
  expect(t.elsewhere).toBe('TRUNCATE items RESTART IDENTITY');
  const d = await plan('DROP TABLE IF EXISTS public.notes, items CASCADE');
  if (d.kind !== 'ddl') throw new Error(d.kind);
  expect(d.elsewhere).toBe('DROP TABLE IF EXISTS items CASCADE');
  const only = await plan('TRUNCATE items');
  expect(only.kind === 'ddl' && only.elsewhere).toBe(undefined);
});
