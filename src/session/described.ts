// Distributed statements described once: what the home node said of a statement's parameters and rows, kept by
// statement text, parameter types, the session's settings and the catalog generation. Later Parse, Bind, Describe
// and Close of the same statement are answered by the coordinator, so a routed lookup is one round trip to the node
// that holds its shard instead of three (node 0's empty shell parsed, bound and synced too).
import * as be from '../protocol/backend.ts';
import { shardGeneration } from '../executor/shard-tasks.ts';
import { stmtKind, type RawStmt } from '../sql/parse.ts';
import type { DistributedPlan, ShardTask } from '../planner/types.ts';
import type { Catalog, DistributedTable } from '../metadata/catalog.ts';

export interface Described {
  /** Parameter types as the node inferred them. */
  params: number[];
  /** RowDescription (formats all text) or NoData. */
  row: Buffer;
  generation: number;
  /** A read whose shard one parameter picks, learnt from its first plan; valid while the catalog is the same. */
  route?: NonNullable<DistributedPlan['route']> & {
    table: DistributedTable;
    catalog: Catalog;
    /** Each shard's task, made once (its SQL and parameter types; the values are each Bind's own). */
    byShard: Map<number, ShardTask>;
  };
}

const known = new Map<string, Described>();
const KEEP = 2000;

/** Statements the coordinator may answer: reads and writes of distributed tables (not DDL, not transaction control). */
export function answerable(raw: RawStmt): boolean {
  const kind = stmtKind(raw);
  return kind === 'SelectStmt' || kind === 'InsertStmt' || kind === 'UpdateStmt' || kind === 'DeleteStmt';
}

export function describedKey(sql: string, types: number[], settings: string, database: string): string {
  return `${database}\0${settings}\0${types.join(',')}\0${sql}`;
}

/** What is known of a statement, if it still holds (no table changed through vecshard since). */
export function lookUp(key: string): Described | undefined {
  const d = known.get(key);
  return d && usable(d) ? d : undefined;
}

export function usable(d: Described | undefined): d is Described {
  return !!d && d.generation === shardGeneration();
}

/** Collects a Describe's answer (ParameterDescription, then RowDescription or NoData) and keeps it under `key`. */
export function learner(key: string, done: (d: Described) => void): (f: Buffer) => void {
  let params: number[] | undefined;
  const generation = shardGeneration();
  return (f) => {
    if (f[0] === 0x74) params = readParameterDescription(f);
    else if ((f[0] === 0x54 || f[0] === 0x6e) && params) {
      const d = { params, row: f, generation };
      if (known.size >= KEEP) known.delete(known.keys().next().value!);
      known.set(key, d);
      done(d);
    }
  };
}

function readParameterDescription(f: Buffer): number[] {
  const n = f.readUInt16BE(5);
  return Array.from({ length: n }, (_, i) => f.readUInt32BE(7 + 4 * i));
}

/** The RowDescription a portal's Describe gets: the statement's, with the formats its Bind asked for. */
export function portalRow(d: Described, formats: number[]): Buffer {
  if (d.row[0] !== 0x54 || !formats.length) return d.row;
  const fields = be.readRowDescription(d.row);
  return be.rowDescription(fields.map((f, i) => ({ ...f, format: formats.length === 1 ? formats[0] : (formats[i] ?? 0) })));
}

/** Postgres's own words when a Bind's parameter count is not the statement's. */
export function paramCountError(given: number, d: Described, name: string): be.PgErrorFields | undefined {
  if (given === d.params.length) return undefined;
  return { severity: 'ERROR', code: '08P01', message: `bind message supplies ${given} parameters, but prepared statement "${name}" requires ${d.params.length}` };
}

/**
 * A statement's parameter types: the client's, and where it left one unspecified (0) the type the node inferred.
 * Routing reads a binary parameter by its type (a 4-byte text value is not an int4).
 */
export function paramTypes(clientTypes: number[], d: Described | undefined): number[] {
  if (!d) return clientTypes;
  return d.params.map((t, i) => clientTypes[i] || t);
}
