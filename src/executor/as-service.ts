// vecshard's own work for a client (distributing its table: shells, shards, catalog rows) runs as vecshard's user
// once the client's right to ask for it is checked, as Citus does it for create_distributed_table. A connection
// that logged in as vecshard's user and took the client's role takes vecshard's user back for that work, and
// the client's role again afterwards; one that logged in as the client's role (pass-through) stays as it is.
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { quoteIdent } from '../sql/quote.ts';

export async function asService<T>(conn: (node: number) => Promise<NodeConnection>, fn: (conn: (node: number) => Promise<NodeConnection>) => Promise<T>): Promise<T> {
  const switched = new Map<NodeConnection, { role: string; inTx: boolean }>();
  const serviceConn = async (node: number) => {
    const c = await conn(node);
    const role = c.backend.role;
    if (role !== undefined && c.serviceUser && !switched.has(c)) {
      const inTx = c.status !== 'I';
      await runQuery(c, `SET SESSION AUTHORIZATION ${quoteIdent(c.serviceUser)}`);
      switched.set(c, { role, inTx });
      c.backend.role = undefined;
    }
    return c;
  };
  try {
    return await fn(serviceConn);
  } finally {
    for (const [c, { role, inTx }] of switched) {
      // In a failed transaction the SET cannot run, and the transaction's ROLLBACK undoes a switch made inside it.
      // Otherwise it must run, or the connection is closed rather than left acting as vecshard's user.
      c.backend.role = role;
      if (c.status === 'E' && inTx) continue;
      if (c.status === 'E') c.close();
      else await runQuery(c, `SET SESSION AUTHORIZATION ${quoteIdent(role)}`).catch(() => c.close());
    }
  }
}
