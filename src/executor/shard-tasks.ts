// Runs shard tasks: all tasks for one node go in one pipelined write ending in Sync; nodes run in parallel.
import { createHash } from 'node:crypto';
import * as fe from '../protocol/frontend.ts';
import { readCommandTag, readErrorFields } from '../protocol/backend.ts';
import type { NodeConnection } from '../shards/node-connection.ts';
import type { ShardTask } from '../planner/types.ts';
import { PgError, ShardError } from '../errors.ts';

export interface TaskResult {
  task: ShardTask;
  rows: Buffer[];
  tag: string;
  /** RowDescription, when asked for. */
  description?: Buffer;
}

/**
 * Parameterised shard SELECTs (a client's prepared or extended-protocol kNN) are prepared on each node connection
 * under a name made from their text, so the node does not parse and plan them on every query (P5: 2-10% more
 * kNN queries per second).
 * The name includes a generation that DDL through vecshard advances: a statement prepared before a table changed
 * could fail with "cached plan must not change result type", and is simply not used again.
 */
let generation = 0;
export function shardStatementsStale(): void {
  generation++;
}
/** Advances whenever a table's definition changes through vecshard (what is cached about shard statements expires). */
export const shardGeneration = (): number => generation;
/** Statements kept per node connection; the oldest is closed to make room. */
const KEPT_PER_CONNECTION = 64;
/** Names by session settings, then by statement text. */
const names = new Map<string, Map<string, { key: string; name: string | undefined }>>();

/**
 * The settings are part of the name: a plan the node cached under one session's planner settings (enable_indexscan,
 * say) must not serve a session that set others, since Postgres does not re-plan a prepared statement when they
 * change.
 */
function preparedName(task: ShardTask, settingsKey: string): string | undefined {
  if (!task.params.values.length) return undefined;
  let bySql = names.get(settingsKey);
  if (!bySql) {
    if (names.size >= 100) names.delete(names.keys().next().value!);
    names.set(settingsKey, (bySql = new Map()));
  }
  const key = `${generation}|${task.params.types.join(',')}`;
  const hit = bySql.get(task.sql);
  if (hit?.key === key) return hit.name;
  // Only SELECTs: a write's text varies with its rows (multi-row VALUES) and would rarely be run again.
  const name = /^\s*select\b/i.test(task.sql) ? 'vs_t' + createHash('sha1').update(task.sql).update('\0').update(key).update('\0').update(settingsKey).digest('hex').slice(0, 24) : undefined;
  if (bySql.size >= 5000) bySql.delete(bySql.keys().next().value!);
  bySql.set(task.sql, { key, name });
  return name;
}

/**
 * Adds to `out` what makes task `t`'s statement ready on `conn`: its Parse under its kept name (closing the oldest
 * kept one when there are many), or nothing when the connection has it; `parsed` says whether a Parse went.
 */
export function prepareTask(conn: NodeConnection, t: ShardTask, out: Buffer[]): { name: string | undefined; parsed: boolean } {
  const name = preparedName(t, conn.backend.localSettings ? `${conn.backend.settingsKey}\0${conn.backend.localSettings}` : conn.backend.settingsKey);
  if (name !== undefined && conn.backend.taskStatements.has(name)) return { name, parsed: false };
  if (name !== undefined) {
    if (conn.backend.taskStatements.size >= KEPT_PER_CONNECTION) {
      const oldest = conn.backend.taskStatements.values().next().value!;
      conn.backend.taskStatements.delete(oldest);
      out.push(fe.close({ kind: 'S', name: oldest }));
    }
    conn.backend.taskStatements.add(name);
  }
  out.push(fe.parse({ name: name ?? '', sql: t.sql, paramTypes: t.params.types }));
  return { name, parsed: true };
}

/** Bind of a task's parameters to `portal`, from prepared statement `statement` (unnamed by default). */
export function bindFor(task: Pick<ShardTask, 'params'>, resultFormats: number[], statement = '', portal = ''): Buffer {
  const w: Buffer[] = [];
  const int16 = (v: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v); // counts go up to 65535 (Postgres reads them unsigned)
    return b;
  };
  w.push(int16(task.params.formats.length), ...task.params.formats.map(int16), int16(task.params.values.length));
  for (const v of task.params.values) {
    const len = Buffer.alloc(4);
    len.writeInt32BE(v === null ? -1 : v.length);
    w.push(len);
    if (v) w.push(v);
  }
  w.push(int16(resultFormats.length), ...resultFormats.map(int16));
  return fe.bind({ portal, statement, rest: Buffer.concat(w) });
}

/** Where streamed rows go: the first RowDescription to arrive, then every row, as the nodes send them. */
export interface RowStream {
  description(f: Buffer): void;
  row(f: Buffer, conn: NodeConnection): void;
}

/** Told how long each node's batch of tasks took (the per-node latency metric). */
export type RoundTrip = (nodeId: number, ms: number) => void;

/**
 * Runs `tasks`; resolves with one result per task in task order, or rejects with the first shard error.
 * `describe` asks for the RowDescription of the first task's result.
 */
export async function runTasks(
  conns: (nodeId: number) => Promise<NodeConnection>,
  tasks: ShardTask[],
  resultFormats: number[],
  describe: boolean,
  notices: (frame: Buffer) => void,
  roundTrip?: RoundTrip,
  limitBytes?: number,
): Promise<TaskResult[]> {
  const { results, failures } = await runTasksSettled(conns, tasks, resultFormats, describe, notices, roundTrip, limitBytes);
  if (failures.size) throw [...failures.values()][0];
  return results;
}

/** Like runTasks, but waits for every node and reports each failed node's error instead of throwing. */
export async function runTasksSettled(
  conns: (nodeId: number) => Promise<NodeConnection>,
  tasks: ShardTask[],
  resultFormats: number[],
  describe: boolean,
  notices: (frame: Buffer) => void,
  roundTrip?: RoundTrip,
  /** Bytes of rows these tasks may hold together; past it they are read and dropped, and 53200 is thrown. */
  limitBytes = Infinity,
  /** Rows handed on as they arrive instead of kept (each node's first task is described, see RowStream). */
  stream?: RowStream,
): Promise<{ results: TaskResult[]; failures: Map<number, Error> }> {
  const failures = new Map<number, Error>();
  let held = 0;
  const byNode = new Map<number, ShardTask[]>();
  for (const t of tasks) byNode.set(t.nodeId, [...(byNode.get(t.nodeId) ?? []), t]);
  const results = new Map<ShardTask, TaskResult>();
  await Promise.all(
    [...byNode].map(async ([nodeId, list]) => {
     try {
      const conn = await conns(nodeId);
      // Each Execute ends in one CommandComplete (or EmptyQueryResponse); `steps` names whose each one is.
      const steps: Array<ShardTask | undefined> = [];
      const out: Buffer[] = [];
      // Each Parse sent, in order (undefined for the unnamed statement): ParseComplete answers them one by one.
      const parses: Array<string | undefined> = [];
      for (const t of list) {
        for (const sql of t.before ?? []) {
          out.push(fe.parse({ name: '', sql, paramTypes: [] }), fe.bind({ portal: '', statement: '', rest: Buffer.from([0, 0, 0, 0, 0, 0]) }), fe.execute(''));
          parses.push(undefined);
          steps.push(undefined);
        }
        const { name, parsed } = prepareTask(conn, t, out);
        if (parsed) parses.push(name);
        out.push(bindFor(t, resultFormats, name));
        if (describe && t === (stream ? list[0] : tasks[0])) out.push(fe.describe({ kind: 'P', name: '' }));
        out.push(fe.execute(''));
        steps.push(t);
        results.set(t, { task: t, rows: [], tag: '' });
      }
      out.push(fe.sync());
      conn.backend.unnamedOwner = undefined;
      const t0 = performance.now();
      conn.write(Buffer.concat(out));
      let step = 0;
      let error: ShardError | undefined;
      await conn.readUntilReady((f) => {
        const current = steps[step];
        switch (f[0]) {
          case 0x44: // DataRow
            if (stream) {
              stream.row(f, conn);
              break;
            }
            held += f.length;
            if (current && held <= limitBytes) results.get(current)!.rows.push(f);
            break;
          case 0x54: // RowDescription
            if (stream) stream.description(f);
            else if (current) results.get(current)!.description = f;
            break;
          case 0x43: // CommandComplete
          case 0x49: // EmptyQueryResponse
            if (current) results.get(current)!.tag = f[0] === 0x43 ? readCommandTag(f) : '';
            step++;
            break;
          case 0x45:
            error ??= new ShardError(readErrorFields(f), current ?? list[0]);
            break;
          case 0x4e:
            notices(f);
            break;
          case 0x31: // ParseComplete
            parses.shift();
            break;
        }
      });
      // Parses the node refused or skipped after an error left no statement behind.
      if (error) for (const name of parses) if (name !== undefined) conn.backend.taskStatements.delete(name);
      roundTrip?.(nodeId, performance.now() - t0);
      if (error) throw error;
      if (step !== steps.length) {
        conn.close();
        throw new ShardError({ severity: 'ERROR', code: '08P01', message: `vecshard: node ${nodeId} answered ${step} of ${steps.length} statements; the connection was out of step and is closed` }, list[0]);
      }
     } catch (e) {
      failures.set(nodeId, e as Error);
     }
    }),
  );
  if (held > limitBytes) throw tooMuch(limitBytes);
  return { results: tasks.map((t) => results.get(t) ?? { task: t, rows: [], tag: '' }), failures };
}

function tooMuch(limit: number): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '53200',
    message: `vecshard: this statement's rows need more than ${Math.round(limit / 1048576)} MB of the coordinator's memory (vecshard.work_mem)`,
    hint: 'Add a LIMIT or a WHERE clause, or raise vecshard.work_mem (SET vecshard.work_mem = \'1GB\').',
  });
}

