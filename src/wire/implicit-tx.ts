// On Postgres the messages up to a Sync run in one transaction (the extended protocol's implicit transaction): a
// batch of writes such as JDBC's executeBatch commits or rolls back whole. A distributed write commits on its own,
// so when more of the batch follows it, vecshard opens a transaction there and ends it at the Sync: committed (in two
// phases across nodes) when nothing failed, rolled back otherwise. A write that ends its batch needs none.
// A batch whose first write came at the end of a network read, with the rest in later reads, has that first write
// committed on its own (see goesOn).
import * as be from '../protocol/backend.ts';
import { clientFields } from '../errors.ts';
import type { TxStatus } from '../shards/node-connection.ts';
import type { ClientSession } from './session.ts';

/**
 * Whether a write (the `executed`-th Execute of its batch) has more of the batch after it. When the network read
 * ended before the batch did, a first statement is taken to be alone: node-postgres's Parse/Bind/Execute often
 * arrives before its Sync, and a lone write needs no transaction. A later one is taken to go on.
 */
export function goesOn(ahead: 'goes on' | 'ends' | 'unknown', executed: number): boolean {
  return ahead === 'goes on' || (ahead === 'unknown' && executed > 1);
}

/** Opens the batch's transaction; true (the batch must end it at Sync). */
export async function beginImplicit(cs: ClientSession): Promise<true> {
  await cs.s.begin();
  return true;
}

/**
 * At the batch's Sync (the node's ReadyForQuery read, not passed on): ends the transaction, then says ReadyForQuery
 * (`ready`). A Query amid the batch ends it too, as on Postgres, and answers for itself.
 */
export async function endImplicit(cs: ClientSession, ready = true): Promise<void> {
  const s = cs.s;
  // The batch may have ended it itself (COMMIT or ROLLBACK in it).
  if (s.status !== 'I') {
    try {
      await s.endTransaction(s.status === 'T');
    } catch (e) {
      const fields = clientFields(e);
      if (!fields) throw e;
      cs.ctx.send(be.errorResponse(fields));
      if ((s.status as TxStatus) !== 'I') await s.endTransaction(false).catch(() => {});
    }
  }
  if (ready) await cs.ready('I');
}
