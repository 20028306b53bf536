// One node is the truth: a vecshard cluster on two PostgreSQL servers and a third, plain server, each with a client,
// and the comparison of one statement's answers (rows, or the SQLSTATE) on both.
import pg from 'pg';
import { startPgServers } from './pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from './coordinator.ts';

export interface Differential {
  c: TestCoordinator;
  /** A client of vecshard, and one of the plain server. */
  vs: pg.Client;
  one: pg.Client;
  close(): Promise<void>;
}

export async function startDifferential(): Promise<Differential> {
  const pgs = await startPgServers(3);
  const c = await startTestCoordinator({ servers: pgs.servers.slice(0, 2) });
  const vs = new pg.Client(c.options());
  await vs.connect();
  const one = new pg.Client({ connectionString: pgs.servers[2].url + '/postgres' });
  await one.connect();
  return {
    c,
    vs,
    one,
    async close() {
      await vs.end().catch(() => {});
      await one.end().catch(() => {});
      await c.close();
      pgs.stopAll();
    },
  };
}

export type Answer = { rows: string[] } | { error: string };

export async function answer(cl: pg.Client, sql: string): Promise<Answer> {
  try {
    const r = await cl.query({ text: sql, rowMode: 'array' });
    return { rows: r.rows.map((row) => JSON.stringify(row)) };
  } catch (e) {
    return { error: (e as { code?: string }).code ?? String(e) };
  }
}

/** Both answers to `sql`, the rows as a multiset unless `ordered`. */
export async function compare(d: Differential, sql: string, ordered: boolean): Promise<{ got: Answer; want: Answer }> {
  const [got, want] = [await answer(d.vs, sql), await answer(d.one, sql)];
  const norm = (a: Answer) => ('rows' in a && !ordered ? { rows: [...a.rows].sort() } : a);
  return { got: norm(got), want: norm(want) };
}
