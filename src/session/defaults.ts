// Column defaults the coordinator evaluates for rows a write leaves without one: sequences live on node 0, so one
// query there gives a whole batch their values.
import { PgError } from '../errors.ts';
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';

export async function evalDefault(s: { home: number; acquire(): Promise<NodeConnection> }, expr: string, n: number): Promise<Array<string | null>> {
  if (s.home !== 0) {
    throw new PgError({ severity: 'ERROR', code: '55000', message: `vecshard: node 0 is down, and the sequence behind ${expr} lives there`, hint: 'Give the column a value explicitly until node 0 is back.' });
  }
  const r = await runQuery(await s.acquire(), `SELECT ${expr} FROM generate_series(1, ${n})`);
  return r.rows.map((row) => row[0]);
}
