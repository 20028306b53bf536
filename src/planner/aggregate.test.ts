// Aggregate plans without a server: partial aggregates per shard, and the combine SQL over them.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';

beforeAll(() => loadParser());

const types = { type: (c: string) => (c === 'c1' ? 'numeric' : 'bigint'), avgType: () => 'numeric' };

it('counts on every shard and sums the counts', async () => {
  const p = await plan('SELECT count(*) FROM items');
  if (p.kind !== 'aggregate') throw new Error(p.kind);
  expect(p.tasks.map((t) => t.sql)).toEqual([0, 1, 2, 3].map((i) => `SELECT count(*) AS c0 FROM vecshard_shards.items_000${i} AS items`));
  expect(p.combine('src', ['c0'], types)).toBe('SELECT sum(c0)::bigint AS "count" FROM src');
});

it('groups on the shards and again over their partial rows, with the types the home node names', async () => {
  const p = await plan('SELECT tenant, sum(id), avg(id) FROM items GROUP BY tenant ORDER BY 1');
  if (p.kind !== 'aggregate') throw new Error(p.kind);
  expect(p.tasks[0].sql).toMatch(/GROUP BY tenant$/);
  const sql = p.combine('src', [], types);
  expect(sql).toContain('sum(c1)::numeric AS "sum"');
  expect(sql).toMatch(/::numeric END AS "avg"/);
  expect(sql).toMatch(/GROUP BY c0 ORDER BY 1$/);
  expect(sql).not.toMatch(/\$\{/);
});

it('counts DISTINCT of the distribution column per shard; other columns on the home node over the rows', async () => {
  const ok = await plan('SELECT count(DISTINCT id) FROM items');
  expect(ok.kind).toBe('aggregate');
  expect(await plan('SELECT count(DISTINCT tenant) FROM items')).toMatchObject({ kind: 'recursive', steps: [{ what: 'a subquery in FROM' }] });
  expect(await plan('SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY id) FROM items')).toMatchObject({ kind: 'recursive' });
});
