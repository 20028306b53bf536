// Turns a classified query into a plan: a small value that says where the statement runs.
import type { ClassifiedQuery } from '../sql/classify.ts';
import type { PgErrorFields } from '../protocol/backend.ts';

export type Plan =
  /** The whole query string runs on node 0 on the client's node connection. */
  | { kind: 'passthrough' }
  /** CREATE DATABASE / DROP DATABASE on every node. */
  | { kind: 'createdb'; name: string; text: string }
  | { kind: 'dropdb'; name: string; ifExists: boolean; text: string }
  /** COPY ... FROM STDIN: the coordinator relays the client's data. */
  | { kind: 'copy-in' }
  | { kind: 'error'; error: PgErrorFields };

export function planQuery(q: ClassifiedQuery, inTransaction: boolean): Plan {
  const [first] = q.statements;
  for (const s of q.statements) {
    if (s.kind === 'createdb' || s.kind === 'dropdb') {
      if (q.statements.length > 1 || inTransaction) {
        const what = s.kind === 'createdb' ? 'CREATE DATABASE' : 'DROP DATABASE';
        return { kind: 'error', error: { severity: 'ERROR', code: '25001', message: `${what} cannot run inside a transaction block` } };
      }
      return s.kind === 'createdb' ? { kind: 'createdb', name: s.name, text: s.text } : { kind: 'dropdb', name: s.name, ifExists: s.ifExists, text: s.text };
    }
    if (s.kind === 'copy-in' && q.statements.length > 1) {
      return {
        kind: 'error',
        error: { severity: 'ERROR', code: '0A000', message: 'vecshard: COPY FROM STDIN must be the only statement in its query string' },
      };
    }
  }
  if (first?.kind === 'copy-in') return { kind: 'copy-in' };
  return { kind: 'passthrough' };
}
