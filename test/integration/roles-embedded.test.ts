// Roles on the embedded nodes (issue 16): each PGlite node has one backend, which takes each client's role in turn
// (SET SESSION AUTHORIZATION), so GRANT, REVOKE and row-level security hold there too, and one client's role
// never stays behind for the next client.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let c: TestCoordinator & { dataDir?: string };
let admin: pg.Client;

beforeAll(async () => {
  c = await startTestCoordinator({ embedded: 2 });
  admin = new pg.Client(c.options());
  await admin.connect();
  await admin.query('CREATE ROLE alice LOGIN');
  await admin.query('CREATE ROLE bob LOGIN');
  await admin.query('CREATE TABLE notes (id int PRIMARY KEY, author text NOT NULL, body text)');
  await admin.query(`SELECT create_distributed_table('notes', 'id', shard_count => 3)`);
  await admin.query(`INSERT INTO notes SELECT i, CASE WHEN i % 2 = 0 THEN 'alice' ELSE 'bob' END, 'note ' || i FROM generate_series(1, 40) i`);
}, 120_000);

afterAll(async () => {
  await admin?.end();
  await stopTestCoordinator(c);
});

async function as(user: string): Promise<pg.Client> {
  const cl = new pg.Client({ ...c.options(), user });
  await cl.connect();
  return cl;
}

it('an unknown role is refused at login, as by Postgres', async () => {
  await expect(as('nobody')).rejects.toMatchObject({ code: '28000', message: 'role "nobody" does not exist' });
});

it('CREATE and DROP DATABASE, which vecshard runs as its own user, want CREATEDB and ownership', async () => {
  await admin.query('CREATE DATABASE shared_db');
  const alice = await as('alice');
  try {
    await expect(alice.query('CREATE DATABASE alices_db')).rejects.toMatchObject({ code: '42501', message: 'permission denied to create database' });
    await expect(alice.query('DROP DATABASE shared_db')).rejects.toMatchObject({ code: '42501', message: 'must be owner of database shared_db' });
  } finally {
    await alice.end();
  }
  await admin.query('DROP DATABASE shared_db');
});

it('GRANT, REVOKE and a policy hold on the shards, and the role goes with its client', async () => {
  const alice = await as('alice');
  try {
    expect((await alice.query('SELECT current_user')).rows).toEqual([{ current_user: 'alice' }]);
    await expect(alice.query('SELECT count(*) FROM notes')).rejects.toMatchObject({ code: '42501', message: 'permission denied for table notes' });
    // The same embedded backend served alice a moment ago: the admin is itself again.
    expect((await admin.query('SELECT current_user, count(*)::int AS n FROM notes')).rows).toEqual([{ current_user: 'postgres', n: 40 }]);
    await admin.query('GRANT SELECT ON notes TO alice');
    expect((await alice.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 40 }]);
    await admin.query('ALTER TABLE notes ENABLE ROW LEVEL SECURITY');
    await admin.query(`CREATE POLICY own_notes ON notes USING (author = current_user)`);
    expect((await alice.query('SELECT count(*)::int AS n, min(author) AS a, max(author) AS b FROM notes')).rows).toEqual([{ n: 20, a: 'alice', b: 'alice' }]);
    expect((await admin.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 40 }]);
    await admin.query('DROP POLICY own_notes ON notes');
    expect((await alice.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 0 }]); // RLS on, no policy: nothing
    await admin.query('REVOKE SELECT ON notes FROM alice');
    await expect(alice.query('SELECT count(*) FROM notes')).rejects.toMatchObject({ code: '42501' });
  } finally {
    await alice.end();
  }
});

it("a role distributes its own table; others get 42501 on it, and the catalog keeps other roles' rows safe", async () => {
  await admin.query('GRANT CREATE ON SCHEMA public TO alice');
  const alice = await as('alice');
  const bob = await as('bob');
  try {
    await alice.query('CREATE TABLE drafts (id int PRIMARY KEY, body text)');
    await alice.query(`SELECT create_distributed_table('drafts', 'id', shard_count => 2)`);
    await alice.query(`INSERT INTO drafts VALUES (1, 'a'), (2, 'b'), (3, 'c')`);
    expect((await alice.query('SELECT count(*)::int AS n FROM drafts')).rows).toEqual([{ n: 3 }]);
    await expect(bob.query('SELECT count(*) FROM drafts')).rejects.toMatchObject({ code: '42501' });
    await expect(bob.query('ALTER TABLE drafts ADD COLUMN x int')).rejects.toMatchObject({ code: '42501' });
    await expect(bob.query('DROP TABLE drafts')).rejects.toMatchObject({ code: '42501' });
    // alice may not distribute (or drop) a table she does not own.
    await expect(alice.query('DROP TABLE notes')).rejects.toMatchObject({ code: '42501' });
    await alice.query('ALTER TABLE drafts ADD COLUMN x int');
    await alice.query('DROP TABLE drafts');
    expect((await admin.query(`SELECT count(*)::int AS n FROM vecshard.tables WHERE table_name = 'drafts'`)).rows).toEqual([{ n: 0 }]);
    expect((await admin.query('SELECT count(*)::int AS n FROM notes')).rows).toEqual([{ n: 40 }]);
  } finally {
    await alice.end();
    await bob.end();
  }
});
