// Distributing a table that has rows: they move from the table into its shards in batches, each row to the shard
// its distribution value (or, clustered, its vector) belongs to.
import type { NodeConnection } from '../shards/node-connection.ts';
import { SHARD_SCHEMA, type DistributedTable } from '../metadata/catalog.ts';
import { nearestShard, shardIndexFor, vectorOf } from '../metadata/route.ts';
import { grow } from '../index/bounds.ts';
import * as fe from '../protocol/frontend.ts';
import { LineSplitter, textField } from '../executor/copy-rows.ts';
import { PgError } from '../errors.ts';
import { quoteIdent, quoteLiteral } from '../sql/quote.ts';
import { copyLines, forEachNode } from './distribute.ts';

const err = (code: string, message: string) => new PgError({ severity: 'ERROR', code, message });

/** Rows read per query, and bytes held before they go to the shards, when a table with rows is distributed. */
const MOVE_BATCH = 5000;
const MOVE_BYTES = 32 * 1024 * 1024;

/**
 * Moves the table's rows into its shards, a batch at a time in ctid order (a TID range scan), so a large table is
 * never held whole on the coordinator.
 */
export async function moveRows(home: NodeConnection, rel: string, table: DistributedTable, conn: (node: number) => Promise<NodeConnection>): Promise<void> {
  const colList = table.columns.map((c) => quoteIdent(c.name)).join(', ');
  const distIdx = table.columns.findIndex((c) => c.name === table.distColumn);
  const route = (line: string, perShard: Map<number, string[]>) => {
    let index = 0;
    if (table.method !== 'reference') {
      const v = textField(line.split('\t')[distIdx]);
      if (v === null) throw err('23502', `vecshard: the distribution column "${table.distColumn}" of "${table.name}" has a NULL value`);
      if (table.method === 'clustered') {
        const vec = vectorOf(table, v);
        index = nearestShard(table, vec);
        const g = table.shards[index].geometry!;
        Object.assign(g, grow(g, vec));
      } else index = shardIndexFor(table, v);
    }
    const list = perShard.get(index) ?? [];
    list.push(line);
    perShard.set(index, list);
  };
  let after = '(0,0)';
  let perShard = new Map<number, string[]>();
  let bytes = 0;
  for (;;) {
    home.write(fe.query(`COPY (SELECT ctid, ${colList} FROM ${rel} WHERE ctid > ${quoteLiteral(after)}::tid ORDER BY ctid LIMIT ${MOVE_BATCH}) TO STDOUT`));
    const split = new LineSplitter();
    let error: string | undefined;
    let n = 0;
    const take = (line: string) => {
      const tab = line.indexOf('\t');
      after = line.slice(0, tab);
      route(line.slice(tab + 1), perShard);
      bytes += line.length;
      n++;
    };
    await home.readUntilReady((f) => {
      if (f[0] === 0x64) for (const line of split.push(f.subarray(5))) take(line);
      if (f[0] === 0x45) error = 'could not read the rows of the table';
    });
    for (const line of split.end()) take(line);
    if (error) throw err('XX000', `vecshard: ${error}`);
    const last = n < MOVE_BATCH;
    if (!last && bytes < MOVE_BYTES) continue;
    const lines = perShard;
    await forEachNode(
      table.shards.filter((s) => lines.has(s.index)),
      async (node, list) => {
        const c = await conn(node);
        for (const s of list) await copyLines(c, `COPY ${SHARD_SCHEMA}.${quoteIdent(s.name)} (${colList}) FROM STDIN`, lines.get(s.index)!);
      },
    );
    if (last) return;
    perShard = new Map();
    bytes = 0;
  }
}
