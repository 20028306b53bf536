// Role, privilege and policy plans without a server: what runs on every node, and on every shard copy.
import { beforeAll, expect, it } from 'vitest';
import { loadParser, plan } from '../../test/helpers/planner.ts';

beforeAll(() => loadParser());

it('runs role statements on every node, with a password turned into one SCRAM verifier', async () => {
  const p = await plan(`CREATE ROLE alice LOGIN PASSWORD 'it''s secret'`);
  if (p.kind !== 'ddl') throw new Error(p.kind);
  expect(p.tasks).toEqual([]);
  expect(p.shell).toMatch(/^CREATE ROLE alice WITH LOGIN PASSWORD 'SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+'$/);
  expect(p.shell).not.toContain('secret');
  // A verifier already made (psql's \password) is kept as it is; other options too.
  const hashed = `ALTER ROLE alice PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a2V5:a2V5'`;
  expect(await plan(hashed)).toMatchObject({ kind: 'ddl', shell: hashed });
  for (const sql of ['DROP ROLE alice', 'GRANT vecshard_admin TO alice', 'ALTER ROLE alice NOLOGIN', 'CREATE SCHEMA app', 'GRANT USAGE ON SCHEMA public TO alice']) {
    expect(await plan(sql), sql).toMatchObject({ kind: 'ddl', shell: sql, tasks: [] });
  }
});

it('GRANT and REVOKE on a distributed table reach every shard copy', async () => {
  const p = await plan('GRANT SELECT, INSERT ON items TO alice WITH GRANT OPTION');
  if (p.kind !== 'ddl') throw new Error(p.kind);
  expect(p.shell).toBe('GRANT SELECT, INSERT ON items TO alice WITH GRANT OPTION');
  expect(p.tasks.map((t) => `${t.shard}@${t.nodeId}`).sort()).toEqual(['items_0000@0', 'items_0000@1', 'items_0001@0', 'items_0001@1', 'items_0002@0', 'items_0002@1', 'items_0003@0', 'items_0003@1']);
  for (const t of p.tasks) expect(t.sql).toBe(`GRANT SELECT, INSERT ON vecshard_shards.${t.shard} TO alice WITH GRANT OPTION`);
  const cols = await plan('REVOKE UPDATE (title) ON public.items FROM PUBLIC');
  if (cols.kind !== 'ddl') throw new Error(cols.kind);
  expect(cols.tasks[0].sql).toMatch(/^REVOKE UPDATE \( title \) ON vecshard_shards\.items_000\d FROM PUBLIC RESTRICT$/);
  const all = await plan('GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader');
  if (all.kind !== 'ddl') throw new Error(all.kind);
  expect(new Set(all.tasks.map((t) => t.shard.replace(/_\d+$/, '')))).toEqual(new Set(['items', 'orders', 'tags']));
  expect(await plan('GRANT SELECT ON plain_table TO alice')).toEqual({ kind: 'passthrough' });
  expect(await plan('GRANT SELECT ON items, plain_table TO alice')).toMatchObject({ kind: 'error', error: { code: '0A000' } });
});

it('policies reach every shard copy; a schema grant is guarded where the schema may be missing', async () => {
  const p = await plan(`CREATE POLICY mine ON items FOR SELECT TO alice USING (tenant = 7)`);
  if (p.kind !== 'ddl') throw new Error(p.kind);
  expect(p.tasks).toHaveLength(8);
  for (const t of p.tasks) expect(t.sql).toBe(`CREATE POLICY mine ON vecshard_shards.${t.shard} AS PERMISSIVE FOR SELECT TO alice USING (tenant = 7)`);
  const drop = await plan('DROP POLICY IF EXISTS mine ON items');
  if (drop.kind !== 'ddl') throw new Error(drop.kind);
  expect(drop.tasks[0].sql).toMatch(/^DROP POLICY IF EXISTS mine ON vecshard_shards\.items_000\d$/);
  const rename = await plan('ALTER POLICY mine ON items RENAME TO yours');
  if (rename.kind !== 'ddl') throw new Error(rename.kind);
  expect(rename.tasks[0].sql).toMatch(/^ALTER POLICY mine ON vecshard_shards\.items_000\d RENAME TO yours$/);
  expect(await plan('DROP POLICY p ON plain_table')).toEqual({ kind: 'passthrough' });
  const schema = await plan('GRANT USAGE ON SCHEMA app TO alice');
  if (schema.kind !== 'ddl') throw new Error(schema.kind);
  expect(schema.elsewhere).toBe(`DO $vecshard$ BEGIN IF to_regnamespace('app') IS NOT NULL THEN EXECUTE 'GRANT USAGE ON SCHEMA app TO alice'; END IF; END $vecshard$`);
});
