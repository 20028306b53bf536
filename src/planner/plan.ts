// A query string's plan before its statements are planned one by one: CREATE/DROP DATABASE (every node), a COPY
// relayed to the home node, an error, or passthrough.
import type { ClassifiedQuery } from '../sql/classify.ts';
import type { RelayCopyPlan, StatementPlan } from './statement.ts';

/** What a query string can be planned as before its statements are looked at one by one. */
export type QueryPlan = Extract<StatementPlan, { kind: 'passthrough' | 'createdb' | 'dropdb' | 'error' }> | RelayCopyPlan;

export function planQuery(q: ClassifiedQuery, inTransaction: boolean): QueryPlan {
  const [first] = q.statements;
  for (const s of q.statements) {
    if (s.kind === 'refused') return { kind: 'error', error: s.error };
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
