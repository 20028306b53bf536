// What running a plan needs from the session it runs for: its node connections, its transaction, its catalog.
// The executor knows nothing of the client's protocol; rows go to a Sink (sink.ts).
import type { Logger } from 'pino';
import type { Catalog } from '../metadata/catalog.ts';
import type { StatementPlan } from '../planner/statement.ts';
import type { SqlPrepared } from '../planner/sql-prepare.ts';
import type { BoundParams } from '../planner/params.ts';
import type { RawStmt } from '../sql/parse.ts';
import type { Login } from '../shards/login.ts';
import type { Cluster } from '../shards/cluster.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import type { RoundTrip } from './shard-tasks.ts';

export interface RunContext {
  readonly cluster: Cluster;
  readonly database: string;
  readonly log: Logger;
  /** The role the client logged in as (what privileges are checked against). */
  readonly user: string;
  /** Who the client's statements run as on the nodes. */
  readonly login: Login;
  /** The node with the session's ordinary tables and its transaction bookkeeping (node 0 unless it is down). */
  readonly home: number;
  /** The client has a transaction open: writes join it instead of committing on their own. */
  readonly inTransaction: boolean;
  /** The session's connection to a node; with the client's transaction open, that transaction begins there. */
  conn(nodeId: number): Promise<NodeConnection>;
  /** The connection the session already holds to a node, if any (catalog writes join it). */
  held(nodeId: number): NodeConnection | undefined;
  /** Told how long each node's batch of shard tasks took (the per-node latency metric). */
  roundTrip: RoundTrip;
  /** Bytes of rows one gather may hold on the coordinator (vecshard.work_mem). */
  readonly resultLimitBytes: number;
  /** Keeps shard write locks until the client's open transaction ends (its writes are not committed before). */
  keepLocks(unlock: Array<() => void>): void;
  /** Forgets the session's connection to a node that was lost. */
  dropConn(nodeId: number): Promise<void>;
  /** A counter that rotates reads over each shard's copies. */
  nextTurn(): number;
  catalog(): Promise<Catalog>;
  /** The catalog changed (DDL, a new distributed table): privately while the client's transaction is open. */
  catalogChanged(): Promise<void>;
  /**
   * Runs `fn` in a transaction: the client's when one is open, otherwise one of the session's own begun on the
   * home node, that reaches every node `fn` uses and is committed in two phases (rolled back if `fn` throws).
   */
  inOwnTransaction<T>(fn: () => Promise<T>): Promise<T>;
  /** Plans a statement for this session (subqueries run first are planned as statements of their own). */
  plan(raw: RawStmt, text: string, params: BoundParams): Promise<StatementPlan>;
  /** Values of a column default (a sequence on node 0) for rows a write leaves without one. */
  evalDefault(expr: string, n: number): Promise<Array<string | null>>;
  /** Statements over distributed tables the client prepared with SQL PREPARE, by name. */
  readonly sqlPrepared: Map<string, SqlPrepared>;
  /** Coordinator time of the statement being run, for cluster.stats (benchmark P5). */
  readonly timing: { parseMs: number; planMs: number; shardMs: number };
}
