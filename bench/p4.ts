// P4 routing (and issue 5's GloVe figures): a clustered table (k-means centroids, queries routed to the
// vecshard.probes nearest shards) vs a hash-distributed one, same data, same HNSW settings, same shard count.
// For each probes value: recall@10 against exact ground truth, shards visited, queries per second; the hash table
// is measured between clustered runs (A B A B) and its median used. Then exact pruning's shards visited.
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { clustered } from './data.ts';
import { loadGlove } from './glove.ts';
import { connectAll, ids, spread } from './clients.ts';

export interface P4Options {
  data: 'glove' | 'synthetic';
  rows: number;
  queries: number;
  nodes: number;
  shards: number;
  probes: number[];
  /** hnsw.ef_search values: each gives a point on every recall-vs-q/s curve. */
  efSearch: number[];
  clients: number;
  /** Queries used to count the shards exact pruning visits. */
  exactQueries: number;
}

export interface P4Row {
  efSearch: number;
  probes: number;
  clustered: { recall: number; qps: number; visited: number };
  hash: { recall: number; qps: number };
  qpsRatio: number;
}

const sql = (v: Float32Array) => `[${Array.from(v).join(',')}]`;

function normalize(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n) || 1;
  return v.map((x) => x / n);
}

/** Exact cosine top-10 ids, cached on disk (computing it takes a while). */
export function groundTruth(rows: Float32Array[], queries: Float32Array[], key: string): number[][] {
  const file = path.join('bench', '.cache', `truth-${key}.json`);
  if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  const unit = rows.map(normalize);
  const out = queries.map((q0) => {
    const q = normalize(q0);
    const best: Array<[number, number]> = [];
    for (let i = 0; i < unit.length; i++) {
      const r = unit[i];
      let d = 0;
      for (let j = 0; j < q.length; j++) d += q[j] * r[j];
      if (best.length < 10 || d > best[best.length - 1][0]) {
        best.push([d, i]);
        best.sort((a, b) => b[0] - a[0]);
        if (best.length > 10) best.pop();
      }
    }
    return best.map(([, i]) => i);
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(out));
  return out;
}

async function load(client: pg.Client, table: string, rows: Float32Array[]): Promise<void> {
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < rows.length; i += 1000) yield rows.slice(i, i + 1000).map((r, j) => `${i + j}\t${sql(r)}\n`).join('');
      })(),
    ),
    client.query(copyFrom(`COPY ${table} (id, embedding) FROM STDIN`)),
  );
}

async function measure(conns: pg.Client[], table: string, queries: Float32Array[]): Promise<{ ids: number[][]; qps: number }> {
  const r = await spread(conns, queries.length, async (c, i) => ids(await c.query(`SELECT id FROM ${table} ORDER BY embedding <=> $1 LIMIT 10`, [sql(queries[i])])));
  return { ids: r.results, qps: r.qps };
}

const recall = (got: number[][], truth: number[][]) => got.reduce((s, g, i) => s + g.filter((x) => truth[i].includes(x)).length / 10, 0) / got.length;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function p4(o: P4Options, log: (s: string) => void = () => {}): Promise<{ rows: P4Row[]; exactVisited: number; builds: Record<string, number> }> {
  let rows: Float32Array[];
  let queries: Float32Array[];
  if (o.data === 'glove') ({ rows, queries } = loadGlove(o.queries, o.rows));
  else {
    const d = clustered(o.rows, o.queries, 100, 50);
    rows = d.rows.map((r) => Float32Array.from(r));
    queries = d.queries.map((r) => Float32Array.from(r));
  }
  log(`${rows.length} rows, ${queries.length} held-out queries`);
  let t = performance.now();
  const truth = groundTruth(rows, queries, `${o.data}-${rows.length}-${queries.length}`);
  log(`ground truth ${((performance.now() - t) / 1000).toFixed(1)} s`);
  const pgs = await startPgServers(o.nodes);
  const c = await startTestCoordinator(pgs, { pool: { size: o.clients + 4 } });
  const conns = await connectAll(o.clients, c.options());
  const db = conns[0];
  const builds: Record<string, number> = {};
  try {
    await db.query('CREATE EXTENSION IF NOT EXISTS vector');
    await db.query(`CREATE TABLE h (id bigint, embedding vector(${rows[0].length}))`);
    await db.query(`SELECT create_distributed_table('h', 'id', shard_count => ${o.shards}, replication_factor => 1)`);
    await load(db, 'h', rows);
    await db.query(`CREATE TABLE c (id bigint, embedding vector(${rows[0].length}))`);
    await load(db, 'c', rows);
    t = performance.now();
    await db.query(`SELECT create_distributed_table('c', 'embedding', distribution => 'clustered', metric => 'cosine', shard_count => ${o.shards}, replication_factor => 1)`);
    builds.distributeClustered = (performance.now() - t) / 1000;
    log(`clustered distribution (k-means + moving rows) ${builds.distributeClustered.toFixed(1)} s`);
    const sizes = (await db.query(`SELECT count(*)::int AS n FROM c GROUP BY embedding IS NULL`)).rows;
    log(`clustered rows ${JSON.stringify(sizes)}`);
    for (const table of ['h', 'c']) {
      t = performance.now();
      await db.query(`CREATE INDEX ON ${table} USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`);
      builds[table] = (performance.now() - t) / 1000;
      log(`HNSW build on ${table}: ${builds[table].toFixed(1)} s`);
    }
    const out: P4Row[] = [];
    for (const ef of o.efSearch) {
      await Promise.all(conns.map((cl) => cl.query(`SET hnsw.ef_search = ${ef}`)));
      const hashRuns: Array<{ recall: number; qps: number }> = [];
      for (const p of o.probes) {
        const a = await measure(conns, 'h', queries);
        hashRuns.push({ recall: recall(a.ids, truth), qps: a.qps });
        await Promise.all(conns.map((cl) => cl.query(`SET vecshard.probes = ${p}`)));
        const b = await measure(conns, 'c', queries);
        const hash = { recall: median(hashRuns.map((h) => h.recall)), qps: median(hashRuns.map((h) => h.qps)) };
        const row = { efSearch: ef, probes: p, clustered: { recall: recall(b.ids, truth), qps: b.qps, visited: Math.min(p, o.shards) }, hash, qpsRatio: b.qps / hash.qps };
        out.push(row);
        log(`ef_search ${ef}, probes ${p}: clustered recall ${row.clustered.recall.toFixed(3)} ${b.qps.toFixed(0)} q/s; hash recall ${hashRuns.at(-1)!.recall.toFixed(3)} ${a.qps.toFixed(0)} q/s`);
      }
    }
    await Promise.all(conns.map((cl) => cl.query('RESET hnsw.ef_search')));
    // Exact pruning: how many shards it visits on this data.
    await db.query('SET vecshard.exact = on');
    await db.query('RESET vecshard.probes');
    const seen: number[] = [];
    for (const q of queries.slice(0, o.exactQueries)) {
      const plan = (await db.query(`EXPLAIN ANALYZE SELECT id FROM c ORDER BY embedding <=> '${sql(q)}' LIMIT 10`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      seen.push(Number(/Shards visited: (\d+) of/.exec(plan)?.[1]));
    }
    const exactVisited = seen.reduce((a, b) => a + b, 0) / seen.length;
    log(`exact pruning: ${exactVisited.toFixed(1)} of ${o.shards} shards visited on average (${seen.length} queries)`);
    return { rows: out, exactVisited, builds };
  } finally {
    await Promise.all(conns.map((cl) => cl.end().catch(() => {})));
    await c.close();
    pgs.stopAll();
  }
}
