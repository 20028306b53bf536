// The SQL a shard runs: the client's statement with the table renamed to the shard, deparsed once per statement
// and shard set, the shard's name put in after, and the client's parameters it uses picked out in order.
import { deparse, walk, type Node } from '../sql/ast.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import { paramOrder, pickParams, type BoundParams } from './params.ts';
import { colocatedShard, toShard } from './relations.ts';
import type { ShardTask } from './types.ts';
import { quoteIdent } from '../sql/quote.ts';

const SHARD_PLACEHOLDER = 'vecshard_shard_placeholder';

/**
 * Shard SQL already made for a statement (the parse cache hands out the same AST object for the same text), by
 * what else shaped it: the text with a placeholder for the shard, and which client parameters it uses, in order.
 */
const shardSqlCache = new WeakMap<Node, Map<string, { sql: string; order: number[]; perShard?: string[] }>>();

/**
 * The same statement for many shards: deparsed once, the shard's name put in after (deparsing is the costly part).
 * With `cache` (the statement as parsed, and a key for everything the shard statement was derived with) the SQL
 * is made once per statement text and reused.
 */
export function tasksFor(stmt: Node, table: DistributedTable, shardIndexes: number[], params: BoundParams, kind: string, cache?: { parsed: Node; key: string }): ShardTask[] {
  const key = cache && `${table.schema}.${table.name}|${table.colocated?.name ?? ''}|${cache.key}`;
  const known = cache && shardSqlCache.get(cache.parsed);
  let made = key ? known?.get(key) : undefined;
  if (!made) {
    const s = toShard({ [kind]: stmt }, table, SHARD_PLACEHOLDER);
    made = { order: paramOrder(s), sql: deparse(s) };
    // The names go in as text only where the placeholder stands for a table: a string in the statement that holds
    // the placeholder (a client may write anything) makes each shard's SQL be deparsed from its own tree instead.
    let renamed = 0;
    walk(s, (n) => {
      if (typeof n.relname === 'string' && n.relname.startsWith(SHARD_PLACEHOLDER)) renamed++;
    });
    if (made.sql.split(SHARD_PLACEHOLDER).length - 1 !== renamed) {
      made.perShard = table.shards.map((sh, i) => {
        const own = toShard({ [kind]: stmt }, table, sh.name, table.colocated?.shards[i].name);
        paramOrder(own);
        return deparse(own);
      });
    }
    if (cache && key) {
      if (known) known.set(key, made);
      else shardSqlCache.set(cache.parsed, new Map([[key, made]]));
    }
  }
  const sql = made.sql;
  const p = pickParams(params, made.order);
  return shardIndexes.map((i) => {
    const shard = table.shards[i];
    if (made.perShard) return { nodeId: shard.nodes[0], shard: shard.name, shardIndex: i, sql: made.perShard[i], params: p };
    let text = sql;
    // The co-located table's shard i first: its placeholder contains the table's.
    if (table.colocated) text = text.split(colocatedShard(SHARD_PLACEHOLDER)).join(quoteIdent(table.colocated.shards[i].name));
    return { nodeId: shard.nodes[0], shard: shard.name, shardIndex: i, sql: text.split(SHARD_PLACEHOLDER).join(quoteIdent(shard.name)), params: p };
  });
}
