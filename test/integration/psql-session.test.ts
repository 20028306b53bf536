// The psql session from the README, scripted, against embedded nodes and against real PostgreSQL nodes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, stopTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { psql } from '../helpers/psql.ts';

const tsv = path.join(os.tmpdir(), `vecshard-psql-${process.pid}.tsv`);
const out = path.join(os.tmpdir(), `vecshard-psql-out-${process.pid}.tsv`);

function script(): string {
  return `
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE items (id bigint PRIMARY KEY, title text, embedding vector(3));
INSERT INTO items VALUES (1, 'one', '[1,0,0]'), (2, 'two', '[0,1,0]'), (3, 'three', '[0,0,1]');
\\copy items FROM '${tsv}'
CREATE INDEX ON items USING hnsw (embedding vector_l2_ops) WITH (m = 8, ef_construction = 32);
\\timing on
SELECT id, title FROM items ORDER BY embedding <-> '[0.9,0.1,0]' LIMIT 5;
\\timing off
\\x on
SELECT id, title FROM items WHERE id = 4;
\\x off
\\dt
\\d items
\\copy (SELECT id, embedding FROM items ORDER BY id) TO '${out}'
BEGIN;
SET LOCAL hnsw.ef_search = 10;
SELECT count(*) AS n FROM items;
COMMIT;
`;
}

function checkSession(r: { code: number; stdout: string; stderr: string }) {
  expect(r.stderr).not.toMatch(/ERROR|FATAL/);
  expect(r.code).toBe(0);
  const o = r.stdout;
  expect(o).toContain('CREATE TABLE');
  expect(o).toContain('INSERT 0 3');
  expect(o).toContain('COPY 2');
  expect(o).toContain('CREATE INDEX');
  // kNN order: [1,0,0] nearest, then the \copy'd [1,1,0], then others
  const knn = o.slice(o.indexOf(' id | title'));
  const ids = [...knn.matchAll(/^\s+(\d) \| (\w+)\s*$/gm)].slice(0, 5).map((m) => Number(m[1]));
  expect(ids).toEqual([1, 4, 2, 3, 5]);
  expect(o).toMatch(/Time: \d+\.\d+ ms/);
  expect(o).toMatch(/-\[ RECORD 1 \]-*\nid\s+\| 4\ntitle\s+\| four/);
  expect(o).toMatch(/public \| items \| table/);
  expect(o).toMatch(/embedding \| vector\(3\)/);
  expect(o).toMatch(/"items_embedding_idx" hnsw \(embedding vector_l2_ops\)/);
  expect(fs.readFileSync(out, 'utf8')).toBe('1\t[1,0,0]\n2\t[0,1,0]\n3\t[0,0,1]\n4\t[1,1,0]\n5\t[0,0,-1]\n');
  expect(o).toMatch(/ n \n---\n 5\n/);
}

beforeAll(() => fs.writeFileSync(tsv, '4\tfour\t[1,1,0]\n5\tfive\t[0,0,-1]\n'));
afterAll(() => {
  fs.rmSync(tsv, { force: true });
  fs.rmSync(out, { force: true });
});

describe('psql against embedded nodes', () => {
  let c: TestCoordinator & { dataDir?: string };
  beforeAll(async () => {
    c = await startTestCoordinator({ embedded: 2 });
  });
  afterAll(async () => {
    await stopTestCoordinator(c);
  });

  it('runs the README session', async () => {
    checkSession(await psql(c.port, script()));
  });

  it('keeps data across a coordinator restart', async () => {
    await c.close();
    c = await startTestCoordinator({ embedded: 2, dataDir: c.dataDir });
    const r = await psql(c.port, 'SELECT count(*) FROM items;');
    expect(r.stdout).toMatch(/\n\s+5\n/);
  });
});

describe('psql against real PostgreSQL nodes', () => {
  let pg: Awaited<ReturnType<typeof startPgServers>>;
  let c: TestCoordinator;
  beforeAll(async () => {
    pg = await startPgServers(2);
    c = await startTestCoordinator(pg, { auth: { method: 'scram-sha-256', users: { postgres: 'pw-for-clients' } } });
  });
  afterAll(async () => {
    await c?.close();
    pg?.stopAll();
  });

  it('runs the README session with SCRAM auth', async () => {
    checkSession(await psql(c.port, script(), { password: 'pw-for-clients' }));
  });

  it('refuses a wrong password with 28P01', async () => {
    const r = await psql(c.port, 'SELECT 1;', { password: 'wrong' });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/password authentication failed for user "postgres"/);
  });
});
