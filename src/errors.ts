// Every error vecshard raises or passes on, and the tests that tell them apart. An error that reaches a client
// carries PostgreSQL's fields (SQLSTATE, message, hint); what vecshard does not support yet is 0A000.
import type { PgErrorFields } from './protocol/backend.ts';
import type { ShardTask } from './planner/types.ts';

/** An error reported by a node (or by vecshard on its behalf) with PostgreSQL's fields. */
export class PgError extends Error {
  constructor(readonly fields: PgErrorFields) {
    super(fields.message);
  }
}

/** A node's error in one shard task: the fields the client sees, and which task it came from. */
export class ShardError extends Error {
  readonly fields: PgErrorFields;
  constructor(
    fields: PgErrorFields,
    readonly task: ShardTask,
  ) {
    // The client named the table, not its shard ("permission denied for table docs", not docs_0002).
    const suffix = `_${String(task.shardIndex).padStart(4, '0')}`;
    if (task.shard?.endsWith(suffix) && fields.message.includes(task.shard)) fields = { ...fields, message: fields.message.replaceAll(task.shard, task.shard.slice(0, -suffix.length)) };
    super(fields.message);
    this.fields = fields;
  }
}

/** The fields of an error a client can be told, or undefined for anything else (a bug, a lost socket). */
export function clientFields(e: unknown): PgErrorFields | undefined {
  return e instanceof PgError || e instanceof ShardError ? e.fields : undefined;
}

/** The node is down or refused us: SQLSTATE 08006 (connection_failure) unless the node said otherwise. */
export function connectionFailure(nodeId: number, detail: string): PgError {
  return new PgError({ severity: 'ERROR', code: '08006', message: `vecshard: cannot reach node ${nodeId}`, detail });
}

/** A lost node rather than an error in the statement: the connection broke, or the server is shutting down. */
export function isConnectionFailure(e: unknown): boolean {
  const code = (e as { fields?: { code?: string } })?.fields?.code;
  return code === '08006' || code === '08001' || code === '57P01' || code === '57P02' || code === '57P03';
}

/** A node lost (connection refused, reset, shut down) rather than an error in the statement itself. */
export function isLost(e: unknown): boolean {
  return isConnectionFailure(e) || (e instanceof Error && !(e instanceof PgError) && !(e instanceof ShardError));
}

/** A statement shape vecshard does not run on distributed tables yet (0A000), as a plan the executor reports. */
export function notSupported(what: string, hint?: string): { kind: 'error'; error: PgErrorFields } {
  return { kind: 'error', error: { severity: 'ERROR', code: '0A000', message: `vecshard: ${what} is not supported on distributed tables yet`, hint } };
}

/** What a node standing in for a down node 0 refuses: it has the shells and catalogs, not node 0's plain tables. */
export function standInRefusal(): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '55000',
    message: 'vecshard: node 0 is down; tables that are not distributed live there, so only reads of the catalog and of distributed tables are served',
    hint: 'Distributed tables keep working. Bring node 0 back to change anything else.',
  });
}
