// Committing work that spans nodes: two-phase commit with a commit record on the session's home node as the
// decision, and the recovery that settles prepared transactions a coordinator left behind. A transaction's id
// names the node that holds its record, so recovery asks that node and no other.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { runQuery } from '../shards/internal-query.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import { quoteLiteral } from '../sql/quote.ts';
import { connectionFailure, isLost, PgError } from '../errors.ts';
import { journaled } from './commit-journal.ts';

const canPrepare = new WeakMap<NodeConnection, boolean>();

/** Whether the node allows PREPARE TRANSACTION (max_prepared_transactions > 0). PGlite does not. */
async function supportsTwoPhase(c: NodeConnection): Promise<boolean> {
  let v = canPrepare.get(c);
  if (v === undefined) {
    v = Number((await runQuery(c, 'SHOW max_prepared_transactions')).rows[0][0]) > 0;
    canPrepare.set(c, v);
  }
  return v;
}

export const GID_PREFIX = 'vecshard_';

/** This coordinator process, in the names of the transactions it prepares and in its lease (vecshard.coordinators). */
export const COORDINATOR_ID = randomBytes(4).toString('hex');

/** How long a coordinator's lease lasts without renewal (config `coordinatorLeaseMs`). */
let leaseMs = 30_000;
export function setLease(ms: number): void {
  leaseMs = ms;
}

/** How many other coordinators hold a live lease on this node (0 where leases are not kept yet). */
export async function peersOn(c: NodeConnection): Promise<number> {
  if ((await runQuery(c, `SELECT to_regclass('vecshard.coordinators') IS NOT NULL`)).rows[0][0] !== 't') return 0;
  const r = await runQuery(c, `SELECT count(*) FROM vecshard.coordinators WHERE id <> ${quoteLiteral(COORDINATOR_ID)} AND heartbeat_at > now() - interval '${leaseMs} milliseconds'`);
  return Number(r.rows[0][0]);
}

/** Renews this coordinator's lease on a node (a connection to one database there, at rest). */
export async function renewLease(c: NodeConnection): Promise<void> {
  if ((await runQuery(c, `SELECT to_regclass('vecshard.coordinators') IS NOT NULL`)).rows[0][0] !== 't') return;
  await runQuery(c, `INSERT INTO vecshard.coordinators (id) VALUES (${quoteLiteral(COORDINATOR_ID)}) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now();
    DELETE FROM vecshard.coordinators WHERE heartbeat_at < now() - interval '1 day'`);
}

/** Transactions this process is committing right now: recovery leaves their prepared parts alone. */
const inFlight = new Set<string>();

const logged = new WeakSet<NodeConnection>();

/** Whether node 0 has the commit-record table (only databases with distributed tables do). */
async function hasCommitLog(home: NodeConnection): Promise<boolean> {
  if (logged.has(home)) return true;
  const ok = (await runQuery(home, `SELECT to_regclass('vecshard.transactions') IS NOT NULL`)).rows[0][0] === 't';
  if (ok) logged.add(home);
  return ok;
}

/**
 * Test hook: VECSHARD_TEST_HANG=after-prepare|after-commit-record|between-commits stops a commit at that point forever, so a test
 * can kill the coordinator there. Unset in normal use.
 */
async function hangPoint(name: string): Promise<void> {
  // VECSHARD_TEST_HANG_FILE: only while that file exists (a test picks the moment).
  const file = process.env.VECSHARD_TEST_HANG_FILE;
  if (process.env.VECSHARD_TEST_HANG !== name || (file && !existsSync(file))) return;
  process.stderr.write(`vecshard: test hang at ${name}\n`);
  await new Promise(() => {});
}

/**
 * Commits a transaction open on `others` (and on `home` when `homeInTx`). With more than one node taking part it
 * prepares the others, commits node 0 with a commit record, then commits the prepared ones; a coordinator that dies
 * in between leaves prepared transactions that `recoverPrepared` settles by that record.
 */
export async function commitDistributed(home: NodeConnection, others: NodeConnection[], homeInTx: boolean): Promise<void> {
  const parts = homeInTx ? [home, ...others] : others;
  const twoPhase = parts.length > 1 && (await hasCommitLog(home)) && (await Promise.all(others.map(supportsTwoPhase))).every(Boolean);
  if (!twoPhase) {
    // One node, or nodes that cannot prepare (embedded): commit in turn, in the journal (commit-journal.ts).
    await journaled(home.database, parts.map((c) => c.nodeId), async () => {
      for (const [i, c] of parts.entries()) {
        await runQuery(c, 'COMMIT');
        if (i === 0 && parts.length > 1) await hangPoint('between-commits');
      }
    });
    return;
  }
  const gid = `${GID_PREFIX}${COORDINATOR_ID}-${randomBytes(8).toString('hex')}_${home.nodeId}`;
  // One prepared name per connection: a streamed COPY may use several connections to one node.
  const names = new Map<NodeConnection, string>();
  const seen = new Map<number, number>();
  for (const c of others) {
    const k = seen.get(c.nodeId) ?? 0;
    seen.set(c.nodeId, k + 1);
    names.set(c, quoteLiteral(`${gid}_${c.nodeId}${k ? `p${k}` : ''}`));
  }
  const name = (c: NodeConnection) => names.get(c) ?? quoteLiteral(`${gid}_${c.nodeId}`);
  inFlight.add(gid);
  try {
    await twoPhaseCommit(gid, name, home, others, homeInTx);
  } finally {
    inFlight.delete(gid);
  }
}

async function twoPhaseCommit(gid: string, name: (c: NodeConnection) => string, home: NodeConnection, others: NodeConnection[], homeInTx: boolean): Promise<void> {
  const prepared: NodeConnection[] = [];
  try {
    await Promise.all(
      others.map(async (c) => {
        await runQuery(c, `PREPARE TRANSACTION ${name(c)}`);
        prepared.push(c);
      }),
    );
    await hangPoint('after-prepare');
  } catch (e) {
    await rollBackParts(name, home, others, prepared);
    throw e;
  }
  try {
    await runQuery(home, `${homeInTx ? '' : 'BEGIN; '}INSERT INTO vecshard.transactions (gid) VALUES (${quoteLiteral(gid)}); COMMIT`);
    if (process.env.VECSHARD_TEST_FAULT === 'lost-after-commit-record') throw connectionFailure(home.nodeId, 'test fault: the answer to the commit record was lost');
  } catch (e) {
    // The home node's answer was lost: its COMMIT (the decision) may have happened. The prepared parts stay for
    // recovery, which commits or rolls them back by the record once that node answers; rolling them back here
    // could undo a committed transaction's part.
    if (isLost(e)) {
      throw new PgError({
        severity: 'ERROR',
        code: '08007',
        message: `vecshard: the connection to node ${home.nodeId} was lost while committing; whether the transaction committed is settled when it answers again`,
        detail: `Transaction ${gid}. Its prepared parts on the other nodes are committed or rolled back by its commit record on node ${home.nodeId}.`,
      });
    }
    await rollBackParts(name, home, others, prepared);
    throw e;
  }
  await hangPoint('after-commit-record');
  await Promise.all(others.map((c) => runQuery(c, `COMMIT PREPARED ${name(c)}`)));
  await runQuery(home, `DELETE FROM vecshard.transactions WHERE gid = ${quoteLiteral(gid)}`).catch(() => {});
}

async function rollBackParts(name: (c: NodeConnection) => string, home: NodeConnection, others: NodeConnection[], prepared: NodeConnection[]): Promise<void> {
  for (const c of others) {
    if (prepared.includes(c)) await runQuery(c, `ROLLBACK PREPARED ${name(c)}`).catch(() => {});
    else await runQuery(c, 'ROLLBACK').catch(() => {});
  }
  await runQuery(home, 'ROLLBACK').catch(() => {});
}

export async function rollbackAll(conns: NodeConnection[]): Promise<void> {
  await Promise.all(conns.map((c) => runQuery(c, 'ROLLBACK').catch(() => {})));
}

/** A prepared transaction's name without its part (vecshard_<hex>_<home>_<node>[p<k>] → vecshard_<hex>_<home>). */
const baseGid = (g: string) => g.replace(/_\d+(?:p\d+)?$/, '');

/** The node holding the commit record of prepared transaction `gid` (vecshard_[<coordinator>-]<hex>_<home>). */
function recordNode(base: string): number {
  const m = /^vecshard_(?:[0-9a-f]+-)?[0-9a-f]+_(\d+)$/.exec(base);
  return m ? Number(m[1]) : 0;
}

/** The coordinator that prepared it (names from before leases have none). */
const preparedBy = (base: string) => /^vecshard_([0-9a-f]+)-/.exec(base)?.[1];

/**
 * Whether another coordinator may still finish prepared transaction `base`: its lease (on the node with the
 * commit record) is running, or the transaction is younger than a lease (that coordinator may not have renewed
 * its lease in this database yet). Ours, when not in flight, and unnamed ones are settled at once.
 */
async function ownedElsewhere(base: string, prepared: string, record: NodeConnection): Promise<boolean> {
  const by = preparedBy(base);
  if (!by || by === COORDINATOR_ID) return false;
  const young = (await runQuery(record, `SELECT ${quoteLiteral(prepared)}::timestamptz > now() - interval '${leaseMs} milliseconds'`)).rows[0][0] === 't';
  if (young) return true;
  if ((await runQuery(record, `SELECT to_regclass('vecshard.coordinators') IS NOT NULL`)).rows[0][0] !== 't') return false;
  const r = await runQuery(record, `SELECT 1 FROM vecshard.coordinators WHERE id = ${quoteLiteral(by)} AND heartbeat_at > now() - interval '${leaseMs} milliseconds'`);
  return r.rows.length > 0;
}

/**
 * Settles vecshard's prepared transactions on `nodes` (connections to one database, one per node that answers):
 * commit where the record exists, roll back where its node says it does not. A transaction whose record's node
 * did not answer stays prepared (in doubt) until that node is back. `complete` says every node answered: only then
 * are records no prepared transaction needs any more deleted.
 */
export async function recoverPrepared(nodes: NodeConnection[], complete: boolean): Promise<number> {
  const byNode = new Map(nodes.map((c) => [c.nodeId, c]));
  const logs = new Map<number, boolean>();
  for (const c of nodes) logs.set(c.nodeId, (await runQuery(c, `SELECT to_regclass('vecshard.transactions') IS NOT NULL`)).rows[0][0] === 't');
  let settled = 0;
  for (const c of nodes) {
    const r = await runQuery(c, `SELECT gid, prepared FROM pg_prepared_xacts WHERE gid LIKE 'vecshard\\_%' AND database = current_database()`);
    for (const [gid, prepared] of r.rows) {
      const base = baseGid(gid!);
      if (inFlight.has(base)) continue;
      const home = byNode.get(recordNode(base));
      if (!home || (await ownedElsewhere(base, prepared!, home))) continue;
      const committed = logs.get(home.nodeId) && (await runQuery(home, `SELECT 1 FROM vecshard.transactions WHERE gid = ${quoteLiteral(base)}`)).rows.length > 0;
      await runQuery(c, `${committed ? 'COMMIT' : 'ROLLBACK'} PREPARED ${quoteLiteral(gid!)}`);
      settled++;
    }
  }
  if (!complete) return settled;
  // Records whose prepared transactions are all settled are no longer needed.
  const left = new Set<string>();
  for (const c of nodes) for (const [g] of (await runQuery(c, `SELECT gid FROM pg_prepared_xacts WHERE gid LIKE 'vecshard\\_%'`)).rows) left.add(baseGid(g!));
  for (const c of nodes) {
    if (!logs.get(c.nodeId)) continue;
    const recs = (await runQuery(c, 'SELECT gid FROM vecshard.transactions')).rows.map((r) => r[0]!).filter((g) => !left.has(g));
    if (recs.length) await runQuery(c, `DELETE FROM vecshard.transactions WHERE gid IN (${recs.map(quoteLiteral).join(', ')})`);
  }
  return settled;
}

/**
 * Runs `fn` in a transaction of our own on `conns` (BEGIN on each), then commits them together through `home`'s
 * commit record, or rolls every one back if `fn` or the commit fails. `home` takes part when it is in `conns`.
 */
export async function withOwnTransaction<T>(home: NodeConnection, conns: NodeConnection[], fn: () => Promise<T>): Promise<T> {
  await Promise.all(conns.map((c) => runQuery(c, 'BEGIN')));
  try {
    const result = await fn();
    await commitDistributed(home, conns.filter((c) => c !== home), conns.includes(home));
    return result;
  } catch (e) {
    await rollbackAll(conns);
    throw e;
  }
}

/** BEGIN on each node's connection; a node that cannot begin is reported in `failed` rather than thrown. */
export async function beginEach(nodes: number[], conn: (n: number) => Promise<NodeConnection>): Promise<Map<number, Error>> {
  const failed = new Map<number, Error>();
  await Promise.all(
    nodes.map(async (n) => {
      try {
        await runQuery(await conn(n), 'BEGIN');
      } catch (e) {
        failed.set(n, e as Error);
      }
    }),
  );
  return failed;
}

/** Ends a transaction open on `home` and `others`: committed in two phases when `commit`, rolled back otherwise. */
export async function endTransaction(home: NodeConnection | undefined, others: NodeConnection[], commit: boolean): Promise<void> {
  if (commit && home) await commitDistributed(home, others, true);
  else await rollbackAll(home ? [home, ...others] : others);
}
