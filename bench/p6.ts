// P6 the SQL applications write: the pgvector README's "nearest neighbours of a row" (a scalar subquery, run first
// as an intermediate result) against the same kNN with the row's vector written as a literal, same table, same
// rows, interleaved rounds. The goal: at most one extra round trip, so the ratio of latencies stays near 1.
import pg from 'pg';
import { startPgServers } from '../test/helpers/pg-nodes.ts';
import { startTestCoordinator } from '../test/helpers/coordinator.ts';
import { clustered, toSql } from './data.ts';
import { connectAll, loadItems } from './clients.ts';

export interface P6Options {
  rows: number;
  dim: number;
  nodes: number;
  shards: number;
  queries: number;
  rounds: number;
}

export interface P6Result {
  rounds: Array<{ literalMs: number; subqueryMs: number; lookupMs: number }>;
  /** Medians over the rounds: mean latency per query, ms. */
  literalMs: number;
  subqueryMs: number;
  lookupMs: number;
  ratio: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function timed(n: number, one: (i: number) => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await one(i);
  return (performance.now() - t0) / n;
}

export async function p6(o: P6Options, log: (s: string) => void = () => {}): Promise<P6Result> {
  const data = clustered(o.rows, 0, o.dim, 40);
  const pgs = await startPgServers(o.nodes);
  const c = await startTestCoordinator(pgs);
  try {
    const [db] = await connectAll(1, c.options());
    await loadItems(db, data.rows, o.shards);
    const id = (i: number) => (i * 7919) % o.rows;
    const literal = (i: number) => db.query('SELECT id FROM items WHERE id != $1 ORDER BY embedding <-> $2 LIMIT 10', [id(i), toSql(data.rows[id(i)])]);
    const subquery = (i: number) => db.query('SELECT id FROM items WHERE id != $1 ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = $1) LIMIT 10', [id(i)]);
    const lookup = (i: number) => db.query('SELECT embedding FROM items WHERE id = $1', [id(i)]);
    for (const f of [literal, subquery, lookup]) await timed(50, f); // warm up
    const rounds: P6Result['rounds'] = [];
    for (let r = 0; r < o.rounds; r++) {
      const round = { literalMs: await timed(o.queries, literal), subqueryMs: await timed(o.queries, subquery), lookupMs: await timed(o.queries, lookup) };
      rounds.push(round);
      log(`round ${r + 1}: literal ${round.literalMs.toFixed(3)} ms, subquery ${round.subqueryMs.toFixed(3)} ms, routed lookup ${round.lookupMs.toFixed(3)} ms`);
    }
    await db.end();
    const literalMs = median(rounds.map((x) => x.literalMs));
    const subqueryMs = median(rounds.map((x) => x.subqueryMs));
    return { rounds, literalMs, subqueryMs, lookupMs: median(rounds.map((x) => x.lookupMs)), ratio: subqueryMs / literalMs };
  } finally {
    await c.close();
    pgs.stopAll();
  }
}

export type { pg };
