// What the extended protocol expects back for each message it batched: from the home node, or from vecshard itself.
import type { PreparedStatement } from '../session/statements.ts';

export type EntryKind = 'parse' | 'bind' | 'describe-S' | 'describe-P' | 'execute' | 'close' | 'sync';

/** One expected answer from the node (or one vecshard gives itself), in the order the client must see it. */
export interface Entry {
  kind: EntryKind;
  /** Forward the node's answer to the client (false for statements vecshard prepares on its own). */
  forward: boolean;
  /** An answer vecshard gives without the node. */
  synthetic?: Buffer;
  /** The node's error is replaced by this one (used to abort the node's transaction with vecshard's error). */
  replaceError?: Buffer;
  nodeName?: string;
  /** The client's Parse this answers: refused by the node, the client's statement does not exist either. */
  parsed?: { name: string; st: PreparedStatement };
  /** Sees every frame of this entry's answer (what vecshard learns from a Describe of its own). */
  capture?: (f: Buffer) => void;
}

/** Whether backend message `t` is the last answer to a message of this kind. */
export function completes(kind: EntryKind, t: number): boolean {
  switch (kind) {
    case 'parse':
      return t === 0x31;
    case 'bind':
      return t === 0x32;
    case 'close':
      return t === 0x33;
    case 'describe-S':
    case 'describe-P':
      return t === 0x54 || t === 0x6e; // RowDescription or NoData
    case 'execute':
      return t === 0x43 || t === 0x49 || t === 0x73; // CommandComplete, EmptyQueryResponse, PortalSuspended
    case 'sync':
      return t === 0x5a;
  }
}


/** A CommandComplete of BEGIN or START TRANSACTION: what follows it in the batch is in the client's transaction. */
export function opensTransaction(f: Buffer): boolean {
  const tag = f.toString('latin1', 5, f.length - 1);
  return tag === 'BEGIN' || tag === 'START TRANSACTION';
}
