// Plans: small values that say where each piece of a statement runs and how the answers combine.
import type { BoundParams } from './params.ts';
import type { PgErrorFields } from '../protocol/backend.ts';
import type { DistributedTable } from '../metadata/catalog.ts';

/** One query for one shard. */
export interface ShardTask {
  nodeId: number;
  /** The shard's table name (for EXPLAIN and errors). */
  shard: string;
  shardIndex: number;
  sql: string;
  params: BoundParams;
  /** Statements run just before, in the same transaction (e.g. raising hnsw.ef_search to the shard's LIMIT). */
  before?: string[];
  /** For INSERT: the positions, in the client's VALUES list, of the rows this task inserts. */
  rowOrder?: number[];
  /** A write to a further copy of the shard: it must succeed, but its rows and counts are the first copy's. */
  replica?: boolean;
}


/** One ORDER BY key's direction. */
export interface SortKey {
  desc: boolean;
  /** Where NULLs go; Postgres's default is last ascending, first descending. */
  nullsFirst: boolean;
}

/** How shard answers become the client's answer. */
export type Merge =
  /** Rows in any order; LIMIT and OFFSET applied after. */
  | { kind: 'concat'; limit: number; offset: number }
  /** k-way merge by the hidden distance column, then OFFSET and LIMIT. */
  | { kind: 'knn'; limit: number; offset: number; desc: boolean; nullsFirst: boolean }
  /** Rows put back in the order of the client's VALUES list (INSERT ... RETURNING). */
  | { kind: 'insert-order' };

export interface DistributedPlan {
  kind: 'distributed';
  table: DistributedTable;
  command: 'SELECT' | 'INSERT' | 'UPDATE' | 'DELETE';
  tasks: ShardTask[];
  merge: Merge;
  /** Trailing columns vecshard added (the distance) and strips before rows reach the client. */
  hidden: number;
  write: boolean;
  /** How the plan was chosen, for EXPLAIN. */
  strategy: string;
  /** Clustered tables: catalog statements that grow shard radii to cover the rows this write adds, run first. */
  growRadii?: string;
  /** Clustered kNN with exact pruning: shards in the order to visit, each with its lower bound (see executor). */
  prune?: PruneSpec;
  /** kNN: the share of answers re-run exactly in the background (vecshard.measure_recall), and the exact tasks. */
  measure?: { share: number; tasks: ShardTask[] };
  /** A read routed by parameter $param alone: the task for whichever shard a value picks (see wire/routed-lane.ts). */
  route?: { param: number; task(shardIndex: number, params: BoundParams): ShardTask };
  /** Clustered UPDATE of the vector: the statement that takes out (and returns) a shard's rows that must move. */
  relocate?: { misplaced: (shardIndex: number, shardName: string) => string };
}

export interface PruneSpec {
  /** Shard indexes, nearest (by bound) first. */
  order: number[];
  /** Lower bound on the query's distance to any row of each shard, by shard index. */
  bounds: Map<number, number>;
  /** How many shards the first round visits (vecshard.probes). */
  first: number;
  /** Rows the client asked for (LIMIT + OFFSET): the k-th of these bounds the rest. */
  k: number;
}

/** DDL: the statement on the shell (node 0) and the matching statements on every shard, all or nothing. */
export interface DdlPlan {
  kind: 'ddl';
  shell: string;
  tasks: ShardTask[];
  /** Whether it may run inside a transaction (CREATE INDEX CONCURRENTLY may not). */
  transactional: boolean;
  /** Catalog statements to run on node 0 in the same transaction. */
  catalog: string[];
  /** What nodes other than the home node run in place of `shell`, when that differs. */
  elsewhere?: string;
}

export interface ErrorPlan {
  kind: 'error';
  error: PgErrorFields;
}

