// The flow every client test runs, in that client's own idiom, on a distributed table of a 3-node cluster:
// create, distribute, insert and COPY, an HNSW index, kNN with a WHERE filter, update, delete, a transaction.
// This file holds the data, the brute-force answers and the check that the rows really live on the nodes.
import { afterAll, beforeAll, expect } from 'vitest';
import { startPgServers, queryNode, type PgServer } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

export const CREATE_TABLE = 'CREATE TABLE docs (id integer PRIMARY KEY, tenant integer NOT NULL, title text, embedding vector(3))';
// 4 shards, each on 2 of the 3 nodes.
export const DISTRIBUTE = "SELECT create_distributed_table('docs', 'id', shard_count => 4, replication_factor => 2)";
export const CREATE_INDEX = 'CREATE INDEX docs_embedding_idx ON docs USING hnsw (embedding vector_cosine_ops)';

export interface Doc {
  id: number;
  tenant: number;
  title: string;
  embedding: number[];
}

export function vec(i: number): number[] {
  return [Math.sin(i), Math.cos(i * 1.3), Math.sin(i * 0.7 + 1)].map((x) => Math.round(x * 1e4) / 1e4);
}

export function doc(id: number): Doc {
  return { id, tenant: id % 3, title: `doc ${id}`, embedding: vec(id) };
}

/** Ids 1–60 go in with the client's insert, 61–120 with COPY (or a bulk insert where the client has no COPY). */
export const INSERTED = Array.from({ length: 60 }, (_, i) => doc(i + 1));
export const COPIED = Array.from({ length: 60 }, (_, i) => doc(i + 61));
export const QUERY = vec(1000);
export const TENANT = 1;
export const K = 5;
/** The row the flow points at QUERY, so it must come first afterwards. */
export const MOVED = 4;
export const DELETED_TENANT = 2;
/** After the flow: 120 rows, less tenant 2's 40, plus the two a committed transaction adds. */
export const FINAL_COUNT = 82;
export const TX_IDS = [1001, 1002];

function cosineDistance(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return 1 - dot / Math.sqrt(na * nb);
}

/** Brute force: ids of the k rows of `tenant` nearest to `q` by cosine distance. */
export function nearest(rows: Doc[], q: number[], tenant: number, k: number): number[] {
  return rows
    .filter((r) => r.tenant === tenant)
    .map((r) => [r.id, cosineDistance(r.embedding, q)] as const)
    .sort((a, b) => a[1] - b[1])
    .slice(0, k)
    .map(([id]) => id);
}

/** What the first kNN must return: every row inserted and copied. */
export const EXPECTED_KNN = nearest([...INSERTED, ...COPIED], QUERY, TENANT, K);

/** Text format of a vector, as pgvector prints it. */
export function vectorText(v: number[]): string {
  return `[${v.join(',')}]`;
}

/** COPY text-format lines for rows. */
export function copyText(rows: Doc[]): string {
  return rows.map((r) => `${r.id}\t${r.tenant}\t${r.title}\t${vectorText(r.embedding)}\n`).join('');
}

export interface ClientCluster {
  c: TestCoordinator;
  servers: PgServer[];
  stop(): Promise<void>;
}

export async function startClientCluster(): Promise<ClientCluster> {
  const pgs = await startPgServers(3);
  const c = await startTestCoordinator(pgs, { pool: { size: 6 } });
  return {
    c,
    servers: pgs.servers,
    async stop() {
      await c.close();
      pgs.stopAll();
    },
  };
}

/** Starts a cluster before the file's tests and stops it after; the getter returns it. */
export function clientCluster(): () => ClientCluster {
  let cluster: ClientCluster | undefined;
  beforeAll(async () => {
    cluster = await startClientCluster();
  });
  afterAll(() => cluster?.stop());
  return () => cluster!;
}

/**
 * Reads each node directly: every active copy of every shard of `table`. Checks that copies agree, and returns the
 * total over shards and how many shards hold rows, so a test can tell the table really is spread out.
 */
export async function placedRows(cluster: ClientCluster, table = 'docs'): Promise<{ rows: number; shardsWithRows: number }> {
  const placements = await queryNode(
    cluster.servers[0],
    `SELECT s.shard_name, p.node_id FROM vecshard.shards s JOIN vecshard.placements p USING (shard_id)
     WHERE s.table_name = '${table}' AND p.state = 'active' ORDER BY s.shard_index, p.node_id`,
  );
  const perShard = new Map<string, number[]>();
  for (const p of placements) {
    const [{ n }] = await queryNode(cluster.servers[p.node_id], `SELECT count(*)::int AS n FROM vecshard_shards.${p.shard_name}`);
    perShard.set(p.shard_name, [...(perShard.get(p.shard_name) ?? []), n]);
  }
  for (const [name, counts] of perShard) {
    expect(counts.length, `copies of ${name}`).toBe(2);
    expect(new Set(counts).size, `copies of ${name} agree`).toBe(1);
  }
  const totals = [...perShard.values()].map((c) => c[0]);
  return { rows: totals.reduce((a, b) => a + b, 0), shardsWithRows: totals.filter((n) => n > 0).length };
}

/** The end state every flow must reach, read from the nodes themselves. */
export async function expectFinalPlacement(cluster: ClientCluster): Promise<void> {
  const placed = await placedRows(cluster);
  expect(placed.rows).toBe(FINAL_COUNT);
  expect(placed.shardsWithRows).toBe(4);
}
