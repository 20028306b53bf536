// Clients are who they log in as (issue 16): with SCRAM pass-through vecshard reads a role's verifier from the
// nodes, checks the client's proof, and logs in to every node as that role with the client key the proof holds.
// GRANT, REVOKE and row-level security policies on a distributed table then hold on every shard copy — also on a
// copy moved later — through node-postgres and psql, and a role's answer equals one node's under the same rules.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { queryNode, startPgServers } from '../helpers/pg-nodes.ts';
import { connectAs, startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { psql } from '../helpers/psql.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let admin: pg.Client;
const ROWS = 200;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { auth: { method: 'scram-sha-256', passthrough: true } });
  // postgres is the nodes' own user: it logs in with its password on node 0, checked against node 0's verifier.
  admin = new pg.Client({ ...c.options(), password: pgs.servers[0].password });
  await admin.connect();
  await admin.query(`CREATE ROLE alice LOGIN PASSWORD 'alice-pw'`);
  await admin.query(`CREATE ROLE bob LOGIN PASSWORD 'bob-pw'`);
  await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
  await admin.query('CREATE TABLE docs (id int PRIMARY KEY, tenant text NOT NULL, embedding vector(3))');
  await admin.query(`SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 1)`);
  // A plain table with the same rows: one node is the truth for what each role may see.
  await admin.query('CREATE TABLE docs_truth (id int PRIMARY KEY, tenant text NOT NULL, embedding vector(3))');
  const values = Array.from({ length: ROWS }, (_, i) => `(${i}, '${i % 3 === 0 ? 'alice' : 'bob'}', '[${Math.sin(i)},${Math.cos(i)},${(i % 7) / 7}]')`).join(',');
  await admin.query(`INSERT INTO docs VALUES ${values}`);
  await admin.query(`INSERT INTO docs_truth VALUES ${values}`);
}, 120_000);

afterAll(async () => {
  await admin?.end();
  await c?.close();
  pgs?.stopAll();
});

const as = (user: string, password: string) => connectAs(c, user, password);

const knn = `SELECT id FROM docs ORDER BY embedding <-> '[0.5,0.5,0.5]' LIMIT 10`;

it('a role created through vecshard has one verifier on every node, and logs in by its own password', async () => {
  const verifiers = await Promise.all(pgs.servers.map((s) => queryNode(s, `SELECT rolpassword FROM pg_authid WHERE rolname = 'alice'`)));
  expect(verifiers[0][0].rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  expect(verifiers[1]).toEqual(verifiers[0]);
  await expect(as('alice', 'wrong')).rejects.toMatchObject({ code: '28P01' });
  await expect(as('nobody', 'x')).rejects.toMatchObject({ code: '28P01' });
  const alice = await as('alice', 'alice-pw');
  try {
    // Working on the nodes as alice herself, not as vecshard's user.
    expect((await alice.query('SELECT current_user, session_user')).rows).toEqual([{ current_user: 'alice', session_user: 'alice' }]);
    await expect(alice.query('SET SESSION AUTHORIZATION postgres')).rejects.toMatchObject({ code: '0A000' });
  } finally {
    await alice.end();
  }
});

it('GRANT and REVOKE on a distributed table hold on its shards: 42501 without SELECT, as on one node', async () => {
  const alice = await as('alice', 'alice-pw');
  const bob = await as('bob', 'bob-pw');
  try {
    await expect(alice.query('SELECT count(*) FROM docs')).rejects.toMatchObject({ code: '42501', message: 'permission denied for table docs' });
    await expect(alice.query(knn)).rejects.toMatchObject({ code: '42501' });
    await admin.query('GRANT SELECT ON docs, docs_truth TO alice').then(
      () => expect.unreachable('mixed GRANT should be refused'),
      (e) => expect(e.code).toBe('0A000'),
    );
    await admin.query('GRANT SELECT ON docs TO alice');
    await admin.query('GRANT SELECT ON docs_truth TO alice');
    expect((await alice.query('SELECT count(*)::int AS n FROM docs')).rows).toEqual([{ n: ROWS }]);
    expect((await alice.query(knn)).rows).toEqual((await alice.query(knn.replace('docs', 'docs_truth'))).rows);
    await expect(bob.query('SELECT count(*) FROM docs')).rejects.toMatchObject({ code: '42501' });
    // Writing needs its own privilege too.
    await expect(alice.query(`INSERT INTO docs VALUES (1000, 'alice', '[1,1,1]')`)).rejects.toMatchObject({ code: '42501' });
    // With it, a write to shards on both nodes commits in two phases, its commit record written as alice.
    await admin.query('GRANT INSERT, DELETE ON docs TO alice');
    expect((await alice.query(`INSERT INTO docs VALUES (1000, 'alice', '[1,1,1]'), (1001, 'alice', '[1,1,0]'), (1002, 'alice', '[0,1,1]'), (1003, 'alice', '[1,0,1]')`)).rowCount).toBe(4);
    expect((await alice.query('DELETE FROM docs WHERE id >= 1000')).rowCount).toBe(4);
    await admin.query('REVOKE INSERT, DELETE ON docs FROM alice');
    // Every shard copy on every node carries the grant.
    for (const s of pgs.servers) {
      const rows = await queryNode(s, `SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'vecshard_shards'::regnamespace AND relname LIKE 'docs%' AND relkind = 'r' AND NOT has_table_privilege('alice', oid, 'SELECT')`);
      expect(rows).toEqual([{ n: 0 }]);
    }
    await admin.query('REVOKE SELECT ON docs FROM alice');
    await expect(alice.query('SELECT count(*) FROM docs')).rejects.toMatchObject({ code: '42501' });
    await admin.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO alice, bob');
    expect((await bob.query('SELECT count(*)::int AS n FROM docs')).rows).toEqual([{ n: ROWS }]);
  } finally {
    await alice.end();
    await bob.end();
  }
});

it('a row-level security policy holds on every shard, also on a copy moved later, through node-postgres and psql', async () => {
  for (const t of ['docs', 'docs_truth']) {
    await admin.query(`ALTER TABLE ${t} ENABLE ROW LEVEL SECURITY`);
    await admin.query(`CREATE POLICY tenant_rows ON ${t} FOR SELECT USING (tenant = current_user)`);
  }
  const check = async () => {
    for (const [user, password] of [['alice', 'alice-pw'], ['bob', 'bob-pw']]) {
      const cl = await as(user, password);
      try {
        const truth = (await cl.query('SELECT count(*)::int AS n FROM docs_truth')).rows;
        expect(truth[0].n).toBeGreaterThan(0);
        expect(truth[0].n).toBeLessThan(ROWS);
        expect((await cl.query('SELECT count(*)::int AS n FROM docs')).rows).toEqual(truth);
        expect((await cl.query(knn)).rows).toEqual((await cl.query(knn.replace('docs', 'docs_truth'))).rows);
        expect((await cl.query('SELECT DISTINCT tenant FROM docs')).rows).toEqual([{ tenant: user }]);
      } finally {
        await cl.end();
      }
    }
  };
  await check();
  // A shard copy made later (a move) has the table's owner, grants and policies too.
  const [shard] = (await admin.query(`SELECT s.shard_id, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id) WHERE s.table_name = 'docs' AND p.node_id = 0 LIMIT 1`)).rows;
  await admin.query(`SELECT vecshard.move_shard_placement(${shard.shard_id}, 0, 1)`);
  const moved = await queryNode(pgs.servers[1], `SELECT count(*)::int AS n FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relname = (SELECT shard_name FROM vecshard.shards WHERE shard_id = ${shard.shard_id})`);
  expect(moved).toEqual([{ n: 1 }]);
  await check();
  // psql as each role, with its own password.
  const seen = await psql(c.port, 'SELECT count(*) FROM docs;', { password: 'alice-pw', args: ['-U', 'alice', '-tA'] });
  expect(seen.stderr).toBe('');
  expect(Number(seen.stdout.trim())).toBe((await queryNode(pgs.servers[0], `SELECT count(*)::int AS n FROM docs_truth WHERE tenant = 'alice'`))[0].n);
  await admin.query('REVOKE SELECT ON docs FROM bob');
  const refused = await psql(c.port, 'SELECT count(*) FROM docs;', { password: 'bob-pw', args: ['-U', 'bob', '-tA'] });
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain('permission denied for table docs');
});
