// P2, sharded kNN: one node with one unsharded HNSW table vs vecshard with S shards on N nodes (same m,
// ef_construction), for each hnsw.ef_search: recall@10 against exact ground truth, and queries per second with
// 1 and 8 clients. Baseline and vecshard alternate per setting.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { clustered, toSql } from './data.ts';
import { loadGlove } from './glove.ts';
import { connectAll, ids, spread } from './clients.ts';
import { groundTruth } from './p4.ts';

export interface P2Options {
  /** Synthetic clustered vectors (l2), or GloVe-100 (cosine, 1,000 held-out queries). */
  data?: 'synthetic' | 'glove';
  rows: number;
  dim: number;
  queries: number;
  nodes: number;
  shards: number;
  efSearch: number[];
  clients: number[];
}

export interface P2Cell {
  efSearch: number;
  clients: number;
  single: { recall: number; qps: number };
  vecshard: { recall: number; qps: number };
  qpsRatio: number;
}

async function load(client: pg.Client, table: string, rows: number[][]): Promise<void> {
  await pipeline(Readable.from((function* () {
    for (let i = 0; i < rows.length; i++) yield `${i}\t${toSql(rows[i])}\n`;
  })()), client.query(copyFrom(`COPY ${table} (id, embedding) FROM STDIN`)));
}

/** Runs every query once over the connections; returns the answers (ids) and queries per second. */
async function measure(conns: pg.Client[], queries: number[][], ef: number, op: string): Promise<{ ids: number[][]; qps: number }> {
  await Promise.all(conns.map((c) => c.query(`SET hnsw.ef_search = ${ef}`)));
  const r = await spread(conns, queries.length, async (c, i) => ids(await c.query(`SELECT id FROM items ORDER BY embedding ${op} $1 LIMIT 10`, [toSql(queries[i])])));
  return { ids: r.results, qps: r.qps };
}

const recall = (got: number[][], truth: number[][]) => got.reduce((s, g, i) => s + g.filter((x) => truth[i].includes(x)).length / 10, 0) / got.length;

export async function p2(o: P2Options, log: (s: string) => void = () => {}): Promise<P2Cell[]> {
  const glove = o.data === 'glove';
  const { rows, queries } = glove
    ? (({ rows: r, queries: q }) => ({ rows: r.map((v) => Array.from(v)), queries: q.map((v) => Array.from(v)) }))(loadGlove(o.queries, o.rows))
    : clustered(o.rows, o.queries, o.dim, 40);
  const op = glove ? '<=>' : '<->';
  const ops = glove ? 'vector_cosine_ops' : 'vector_l2_ops';
  const dim = rows[0].length;
  const pgs = await startPgServers(o.nodes + 1);
  const baseNode = pgs.servers[o.nodes];
  // The benchmark's own work (loading vectors, exact ground truth) shares this process: health checks get time.
  const c = await startTestCoordinator({ servers: pgs.servers.slice(0, o.nodes) }, { pool: { size: Math.max(...o.clients) + 2, healthCheckTimeoutMs: 60_000 } });
  const ddl = `CREATE TABLE items (id bigint, embedding vector(${dim}), PRIMARY KEY (id))`;
  try {
    const single = await connectAll(Math.max(...o.clients), { connectionString: baseNode.url + '/postgres' });
    const vs = await connectAll(Math.max(...o.clients), c.options());
    await single[0].query(ddl);
    await load(single[0], 'items', rows);
    await vs[0].query(ddl);
    await vs[0].query(`SELECT create_distributed_table('items', 'id', shard_count => ${o.shards}, replication_factor => 1)`);
    await load(vs[0], 'items', rows);
    let t = performance.now();
    // Enough memory that neither side's HNSW build spills (see P3): the builds are not what P2 compares.
    await single[0].query(`SET maintenance_work_mem = '1GB'`);
    await vs[0].query(`SET maintenance_work_mem = '1GB'`);
    await single[0].query(`CREATE INDEX ON items USING hnsw (embedding ${ops}) WITH (m = 16, ef_construction = 64)`);
    log(`single-node index build ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    await vs[0].query(`CREATE INDEX ON items USING hnsw (embedding ${ops}) WITH (m = 16, ef_construction = 64)`);
    log(`sharded index build ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // Exact ground truth: a sequential scan of the unsharded table.
    let truth: number[][];
    if (glove) truth = groundTruth(rows.map((r) => Float32Array.from(r)), queries.map((q) => Float32Array.from(q)), `glove-${rows.length}-${queries.length}`);
    else {
      await single[0].query('SET enable_indexscan = off');
      truth = (await measure([single[0]], queries, 40, op)).ids;
      await single[0].query('RESET enable_indexscan');
    }
    const cells: P2Cell[] = [];
    for (const ef of o.efSearch) {
      for (const clients of o.clients) {
        const a = await measure(single.slice(0, clients), queries, ef, op);
        const b = await measure(vs.slice(0, clients), queries, ef, op);
        const cell = {
          efSearch: ef,
          clients,
          single: { recall: recall(a.ids, truth), qps: a.qps },
          vecshard: { recall: recall(b.ids, truth), qps: b.qps },
          qpsRatio: b.qps / a.qps,
        };
        cells.push(cell);
        log(`ef_search ${ef}, ${clients} clients: single recall ${cell.single.recall.toFixed(3)} ${a.qps.toFixed(0)} q/s; vecshard recall ${cell.vecshard.recall.toFixed(3)} ${b.qps.toFixed(0)} q/s`);
      }
    }
    await Promise.all([...single, ...vs].map((cl) => cl.end()));
    return cells;
  } finally {
    await c.close();
    pgs.stopAll();
  }
}
