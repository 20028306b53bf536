// Driving a node or vecshard with many client connections at once, for the benchmark scenarios.
import pg from 'pg';

export function connectAll(n: number, config: pg.ClientConfig): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const cl = new pg.Client(config);
      await cl.connect();
      return cl;
    }),
  );
}

/** Runs `total` queries over the connections, each taking the next as soon as it is free; answers by index, and q/s. */
export async function spread<T>(conns: pg.Client[], total: number, one: (c: pg.Client, i: number) => Promise<T>): Promise<{ results: T[]; qps: number }> {
  const results: T[] = new Array(total);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c) => {
      for (let i = next++; i < total; i = next++) results[i] = await one(c, i);
    }),
  );
  return { results, qps: total / ((performance.now() - t0) / 1000) };
}

/** The ids of a kNN answer. */
export const ids = (r: pg.QueryResult): number[] => r.rows.map((x) => Number(x.id));
