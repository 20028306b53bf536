// SQL PREPARE / EXECUTE / DEALLOCATE of statements over distributed tables. The statement is kept by the session,
// not prepared on the home node: there it would run over the empty shell tables, so an EXECUTE that reached the
// node by mistake would answer without rows rather than fail.
import type { Node } from '../sql/ast.ts';
import type { PgErrorFields } from '../protocol/backend.ts';
import { notSupported } from '../errors.ts';
import type { ErrorPlan } from './types.ts';

/** A statement over distributed tables prepared with SQL PREPARE: EXECUTE runs it through vecshard. */
export interface SqlPrepared {
  /** The statement, each parameter cast to its type (as Postgres typed it at PREPARE). */
  query: Node;
  /** The parameters' type names. */
  types: string[];
}

export type SqlPreparePlan =
  | { kind: 'sql-prepare'; name: string; stmt: Node }
  | { kind: 'sql-execute'; name: string; args: Node[] }
  /** A name: that statement; all: every one (then the home node runs the statement too). */
  | { kind: 'sql-deallocate'; name?: string; all: boolean };

const exists = (name: string): PgErrorFields => ({ severity: 'ERROR', code: '42P05', message: `prepared statement "${name}" already exists` });

/** The plan when this statement is about the session's SQL-prepared distributed statements; undefined otherwise. */
export function planSqlPrepared(kind: string, n: Node, prepared: ReadonlyMap<string, SqlPrepared> | undefined, distributed: boolean): SqlPreparePlan | ErrorPlan | undefined {
  switch (kind) {
    case 'PrepareStmt':
      if (prepared?.has(n.name)) return { kind: 'error', error: exists(n.name) };
      if (!distributed) return undefined;
      if (!['SelectStmt', 'InsertStmt', 'UpdateStmt', 'DeleteStmt'].includes(Object.keys(n.query)[0])) return notSupported('PREPARE of this statement');
      return { kind: 'sql-prepare', name: n.name, stmt: { PrepareStmt: n } };
    case 'ExecuteStmt':
      return prepared?.has(n.name) ? { kind: 'sql-execute', name: n.name, args: n.params ?? [] } : undefined;
    case 'DeallocateStmt':
      if (n.isall || !n.name) return prepared?.size ? { kind: 'sql-deallocate', all: true } : undefined;
      return prepared?.has(n.name) ? { kind: 'sql-deallocate', name: n.name, all: false } : undefined;
    case 'DiscardStmt':
      return n.target === 'DISCARD_ALL' && prepared?.size ? { kind: 'sql-deallocate', all: true } : undefined;
    case 'ExplainStmt':
      return n.query?.ExecuteStmt && prepared?.has(n.query.ExecuteStmt.name) ? notSupported('EXPLAIN EXECUTE of a statement prepared over distributed tables', 'EXPLAIN the statement itself, with the values in place.') : undefined;
  }
  return undefined;
}
