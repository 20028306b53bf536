// The Citus flow, unmodified, through node-postgres and pg-copy-streams: extension, shard count, distributed table,
// COPY of 100k rows, HNSW index, kNN recall at least that of one unsharded table with the same settings.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import pgvector from 'pgvector/pg';
import { from as copyFrom } from 'pg-copy-streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { hashInt8 } from '../../src/metadata/hash.ts';
import { clustered } from '../../bench/data.ts';

const ROWS = 100_000;
const DIM = 128;
const CLUSTERS = 40;
const QUERIES = 100;

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs);
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

it('runs the Citus example and keeps recall at least that of one node', async () => {
  const { rows, queries } = clustered(ROWS, QUERIES, DIM, CLUSTERS);
  const client = new pg.Client(c.options());
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS vector');
  await client.query('CREATE EXTENSION IF NOT EXISTS citus');
  await pgvector.registerTypes(client);
  await client.query('SET citus.shard_count = 4');
  await client.query('CREATE TABLE items (id bigserial, embedding vector(128), category_id bigint, PRIMARY KEY (id, category_id))');
  await client.query(`SELECT create_distributed_table('items', 'category_id')`);
  const lines = function* () {
    for (let i = 0; i < ROWS; i++) yield `${pgvector.toSql(rows[i])}\t${i % 1000}\n`;
  };
  await pipeline(Readable.from(lines()), client.query(copyFrom('COPY items (embedding, category_id) FROM STDIN')));
  await client.query('CREATE INDEX ON items USING hnsw (embedding vector_l2_ops)');

  // The same data, unsharded, straight on one node.
  const single = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await single.connect();
  await pgvector.registerTypes(single);
  await single.query('CREATE TABLE flat (id bigint, embedding vector(128))');
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < ROWS; i++) yield `${i}\t${pgvector.toSql(rows[i])}\n`;
  })()), single.query(copyFrom('COPY flat FROM STDIN')));
  await single.query('CREATE INDEX ON flat USING hnsw (embedding vector_l2_ops)');

  // Rows: exactly the ones sent, ids unique, each on the shard its hash says.
  const count = await client.query('SELECT count(*)::int AS n, count(DISTINCT id)::int AS d FROM items').catch(() => null);
  expect(count).toBeNull(); // count(DISTINCT) across shards is refused, not answered wrongly
  expect((await client.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(ROWS);
  const seen = new Set<string>();
  const shards = await single.query(`SELECT shard_name, min_hash, max_hash, node_id FROM vecshard.shards JOIN vecshard.placements USING (shard_id) ORDER BY shard_index`);
  expect(shards.rows.length).toBe(8); // 4 shards, 2 copies each (the default with more than one node)
  let total = 0;
  for (const s of shards.rows) {
    const node = new pg.Client({ connectionString: pgs.servers[s.node_id].url + '/postgres' });
    await node.connect();
    const r = await node.query(`SELECT id::text, category_id::text FROM vecshard_shards.${s.shard_name}`);
    await node.end();
    for (const row of r.rows) {
      const h = hashInt8(BigInt(row.category_id));
      expect(h >= s.min_hash && h <= s.max_hash).toBe(true);
      seen.add(row.id);
    }
    total += r.rows.length;
  }
  expect(total).toBe(2 * ROWS);
  expect(seen.size).toBe(ROWS);

  // Recall@10 against exact ground truth, at the default ef_search, for both.
  await single.query('SET enable_indexscan = off');
  const truth: number[][] = [];
  for (const q of queries) truth.push((await single.query('SELECT id FROM flat ORDER BY embedding <-> $1 LIMIT 10', [pgvector.toSql(q)])).rows.map((r) => Number(r.id)));
  await single.query('RESET enable_indexscan');
  let recallSharded = 0;
  let recallSingle = 0;
  for (let i = 0; i < QUERIES; i++) {
    const q = pgvector.toSql(queries[i]);
    const a = await client.query('SELECT id, embedding FROM items ORDER BY embedding <-> $1 LIMIT 10', [q]);
    expect(a.rows.length).toBe(10);
    // Sharded ids come from the coordinator's sequence (1-based, COPY order): map back to positions.
    const got = a.rows.map((r) => Number(r.id) - 1);
    const b = await single.query('SELECT id FROM flat ORDER BY embedding <-> $1 LIMIT 10', [q]);
    recallSharded += got.filter((x) => truth[i].includes(x)).length / 10;
    recallSingle += b.rows.filter((r) => truth[i].includes(Number(r.id))).length / 10;
  }
  await client.query('SET vecshard.exact = on');
  let recallExact = 0;
  for (let i = 0; i < QUERIES; i++) {
    const a = await client.query('SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 10', [pgvector.toSql(queries[i])]);
    recallExact += a.rows.map((r) => Number(r.id) - 1).filter((x) => truth[i].includes(x)).length / 10;
  }
  await client.query('RESET vecshard.exact');
  expect(recallExact / QUERIES).toBe(1);
  recallSharded /= QUERIES;
  recallSingle /= QUERIES;
  console.log(`recall@10 at ef_search 40: 4 shards ${recallSharded.toFixed(3)}, one table ${recallSingle.toFixed(3)}`);
  expect(recallSharded).toBeGreaterThanOrEqual(recallSingle);
  await single.end();
  await client.end();
}, 600_000);
