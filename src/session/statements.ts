// A client's prepared statements and the portals bound to distributed ones, as the session keeps them.
import { createHash } from 'node:crypto';
import { walk, type Node } from '../sql/ast.ts';
import type { RawStmt } from '../sql/parse.ts';
import type { BoundParams } from '../planner/params.ts';
import type { PortalReader } from '../executor/portal-stream.ts';
import type { Described } from './described.ts';

export interface PreparedStatement {
  sql: string;
  paramTypes: number[];
  /** Name on node connections: shared by every session that prepares the same text and types. */
  nodeName: string;
  /** For the unnamed statement: which Parse this is, so a connection parsed by someone else parses again. */
  owner: object;
  pins: boolean;
  changesSettings: boolean;
  /** The parsed statement, when it touches distributed tables (as the catalog stood at Parse). */
  distributed?: RawStmt;
  /** What node 0 parses when it is not `sql` (the shape of a virtual table's rows). */
  nodeSql?: string;
  /** vecshard's functions: no node knows them, so vecshard answers every message itself; this is the row they return. */
  coordinatorOnly?: Buffer;
  /** Its parameters and rows as the home node described them: vecshard answers Bind and Describe itself. */
  described?: Described;
}

/** A portal bound to a distributed statement: run by the coordinator, not by the home node. */
export interface DistributedPortal {
  stmt: RawStmt;
  sql: string;
  params: BoundParams;
  resultFormats: number[];
  /** Rows not yet handed out (after an Execute with a row limit), and the CommandComplete that ends them. */
  pending?: { rows: Buffer[]; complete: Buffer };
  /** For vecshard's functions, the RowDescription a Describe of the portal gets. */
  coordinatorOnly?: Buffer;
  /** Read in parts straight from the shards' portals (executor/portal-stream.ts), instead of kept whole. */
  stream?: PortalReader;
  /** Bound by vecshard alone (never on the home node): Describe and Close are answered here. */
  described?: Described;
  /** The statement it was bound from, when bound on the home node (what vecshard learns of it meanwhile counts). */
  prepared?: PreparedStatement;
}

/** A session's distributed portals: one deleted (closed, replaced, or at the transaction's end) stops its shard reads. */
export class Portals extends Map<string, DistributedPortal> {
  override delete(name: string): boolean {
    void this.get(name)?.stream?.close().catch(() => {});
    return super.delete(name);
  }

  override clear(): void {
    for (const name of [...this.keys()]) this.delete(name);
  }
}

/** The name a statement has on node connections: by its text and parameter types. */
export function statementName(sql: string, types: number[]): string {
  return 'vs_' + createHash('sha1').update(sql).update('\0').update(types.join(',')).digest('hex').slice(0, 24);
}

/** The highest $n in a statement (its parameter count when the client gave no types). */
export function countParams(stmt: Node): number {
  let max = 0;
  walk(stmt, (n) => {
    if (n.ParamRef) max = Math.max(max, n.ParamRef.number);
  });
  return max;
}
