// P3 ingest: COPY of the whole set through vecshard (hash-distributed, shards on N nodes) against COPY straight
// into one node, then the HNSW index build (vecshard's shards build on their nodes in parallel). Baseline and
// vecshard alternate, round after round, on fresh tables.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { clustered } from './data.ts';
import { loadGlove } from './glove.ts';

export interface P3Options {
  data: 'glove' | 'synthetic';
  rows: number;
  nodes: number;
  shards: number;
  rounds: number;
  /** Skip the index builds: COPY alone, so more rounds fit in a few minutes. */
  copyOnly?: boolean;
}

export interface P3Round {
  single: { copyS: number; indexS: number };
  vecshard: { copyS: number; indexS: number };
}

export interface P3Result {
  rows: number;
  rounds: P3Round[];
  copyRatio: number;
  indexRatio: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function p3(o: P3Options, log: (s: string) => void = () => {}): Promise<P3Result> {
  const vectors = o.data === 'glove' ? loadGlove(1000, o.rows).rows : clustered(o.rows, 0, 100, 50).rows.map((r) => Float32Array.from(r));
  // The COPY text is made once, so both sides send the same bytes and neither pays for formatting.
  const chunks: string[] = [];
  for (let i = 0; i < vectors.length; i += 1000) chunks.push(vectors.slice(i, i + 1000).map((v, j) => `${i + j}\t[${Array.from(v).join(',')}]\n`).join(''));
  const dim = vectors[0].length;
  const pgs = await startPgServers(o.nodes + 1);
  const c = await startTestCoordinator({ servers: pgs.servers.slice(0, o.nodes) });
  const single = new pg.Client({ connectionString: pgs.servers[o.nodes].url + '/postgres' });
  const vs = new pg.Client(c.options());
  await single.connect();
  await vs.connect();
  const timed = async (fn: () => Promise<unknown>) => {
    const t = performance.now();
    await fn();
    return (performance.now() - t) / 1000;
  };
  const ingest = async (db: pg.Client, distribute: boolean) => {
    await db.query('DROP TABLE IF EXISTS items');
    await db.query(`CREATE TABLE items (id bigint, embedding vector(${dim}))`);
    if (distribute) await db.query(`SELECT create_distributed_table('items', 'id', shard_count => ${o.shards}, replication_factor => 1)`);
    const copyS = await timed(() => pipeline(Readable.from(chunks), db.query(copyFrom('COPY items (id, embedding) FROM STDIN'))));
    const indexS = o.copyOnly ? NaN : await timed(() => db.query('CREATE INDEX ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)'));
    const n = Number((await db.query('SELECT count(*) AS n FROM items')).rows[0].n);
    if (n !== vectors.length) throw new Error(`expected ${vectors.length} rows, found ${n}`);
    return { copyS, indexS };
  };
  try {
    await single.query('CREATE EXTENSION IF NOT EXISTS vector');
    await vs.query('CREATE EXTENSION IF NOT EXISTS vector');
    const rounds: P3Round[] = [];
    for (let r = 0; r < o.rounds; r++) {
      const a = await ingest(single, false);
      const b = await ingest(vs, true);
      rounds.push({ single: a, vecshard: b });
      log(`round ${r + 1}: one node COPY ${a.copyS.toFixed(1)} s, index ${a.indexS.toFixed(1)} s; vecshard COPY ${b.copyS.toFixed(1)} s, index ${b.indexS.toFixed(1)} s`);
    }
    return {
      rows: vectors.length,
      rounds,
      // Throughput ratios (vecshard / one node): above 1 means vecshard is faster.
      copyRatio: median(rounds.map((x) => x.single.copyS)) / median(rounds.map((x) => x.vecshard.copyS)),
      indexRatio: median(rounds.map((x) => x.single.indexS)) / median(rounds.map((x) => x.vecshard.indexS)),
    };
  } finally {
    await single.end();
    await vs.end();
    await c.close();
    pgs.stopAll();
  }
}
