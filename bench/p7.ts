// P7, several shard scans of one query on one node: pipelined (a Bind/Execute per shard in one write, as vecshard
// sends them) against one statement (the scans joined with UNION ALL and a shard tag). Same node, same shards
// (S tables of R clustered vectors, HNSW each), same queries, alternating rounds; q/s on one connection and the
// node's CPU time per query (all its processes, from /proc).
// npx tsx bench/p7.ts [--rows 50000] [--shards 2] [--queries 500] [--rounds 3]
import fs from 'node:fs';
import pg from 'pg';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { runTasks } from '../src/executor/shard-tasks.ts';
import type { ShardTask } from '../src/planner/types.ts';
import { clustered, toSql } from './data.ts';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const [rows, shards, nq, rounds] = [arg('rows', 50_000), arg('shards', 2), arg('queries', 500), arg('rounds', 3)];

/** CPU seconds used so far by every postgres process on the machine (only this benchmark's server runs). */
function nodeCpu(): number {
  let ticks = 0;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100;
}

const pgs = await startPgServers(1);
const c = await startTestCoordinator({ servers: pgs.servers });
try {
  const admin = new pg.Client({ connectionString: pgs.servers[0].url + '/postgres' });
  await admin.connect();
  await admin.query('CREATE EXTENSION IF NOT EXISTS vector');
  const data = clustered(rows * shards, nq, 64, 40);
  for (let s = 0; s < shards; s++) {
    await admin.query(`CREATE TABLE s${s} (id int, embedding vector(64))`);
    for (let i = 0; i < rows; i += 1000) {
      const part = data.rows.slice(s * rows + i, s * rows + Math.min(i + 1000, rows));
      await admin.query(`INSERT INTO s${s} SELECT * FROM unnest($1::int[], $2::vector[])`, [part.map((_, j) => i + j), part.map(toSql)]);
    }
    await admin.query(`CREATE INDEX ON s${s} USING hnsw (embedding vector_l2_ops)`);
    await admin.query(`VACUUM ANALYZE s${s}`);
  }
  await admin.end();
  const pool = c.cluster.pool(0, 'postgres');
  const conn = await pool.acquire();
  const params = (q: number[]) => ({ values: [Buffer.from(toSql(q))], formats: [0], types: [0] });
  const scan = (s: number) => `SELECT id, embedding <-> $1 AS d FROM s${s} ORDER BY embedding <-> $1 LIMIT 10`;
  const pipelined = (q: number[]): ShardTask[] => Array.from({ length: shards }, (_, s) => ({ nodeId: 0, shard: `s${s}`, shardIndex: s, sql: scan(s), params: params(q) }));
  const union = (q: number[]): ShardTask[] => [{ nodeId: 0, shard: 'union', shardIndex: 0, sql: Array.from({ length: shards }, (_, s) => `(SELECT id, embedding <-> $1 AS d, ${s} AS shard FROM s${s} ORDER BY embedding <-> $1 LIMIT 10)`).join(' UNION ALL '), params: params(q) }];
  const results: Record<string, { qps: number[]; cpuMs: number[] }> = { pipelined: { qps: [], cpuMs: [] }, union: { qps: [], cpuMs: [] } };
  for (let r = 0; r < rounds + 1; r++) {
    for (const [name, make] of [['pipelined', pipelined], ['union', union]] as const) {
      const cpu0 = nodeCpu();
      const t0 = performance.now();
      for (const q of data.queries) {
        const out = await runTasks(async () => conn, make(q), [], false, () => {});
        if (out.reduce((n, x) => n + x.rows.length, 0) !== 10 * shards) throw new Error(`${name}: wrong row count`);
      }
      const secs = (performance.now() - t0) / 1000;
      if (r === 0) continue; // warm-up: statements prepared, pages cached
      results[name].qps.push(nq / secs);
      results[name].cpuMs.push(((nodeCpu() - cpu0) * 1000) / nq);
    }
  }
  await pool.release(conn, true);
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const [p, u] = [results.pipelined, results.union];
  console.log(`| ${shards} shards × ${rows} rows | ${med(p.qps).toFixed(0)} | ${med(u.qps).toFixed(0)} | ${(med(u.qps) / med(p.qps)).toFixed(2)}× | ${med(p.cpuMs).toFixed(3)} | ${med(u.cpuMs).toFixed(3)} | ${(med(u.cpuMs) / med(p.cpuMs)).toFixed(2)}× |`);
} finally {
  await c.close();
  pgs.stopAll();
}
