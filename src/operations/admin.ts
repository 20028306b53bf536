// vecshard's admin functions, called as SELECT vecshard.<name>(...): repair, rebalance, recluster, node
// membership and shard moves. Each returns a count the client gets as its one row.
import path from 'node:path';
import { PgError } from '../errors.ts';
import { parseQualifiedName } from '../sql/quote.ts';
import type { RunContext } from '../executor/context.ts';
import { parseNodeUrl } from '../shards/pg-node.ts';
import type { Cluster, NodeSpec } from '../shards/cluster.ts';
import { repairDatabase, rebalance, moveShardPlacement } from './repair.ts';
import { addNode, removeNode } from './membership.ts';
import { recluster } from './recluster.ts';

export interface AdminCall {
  name: string;
  args: Array<string | null | undefined>;
}

export async function runAdmin(call: AdminCall, ctx: RunContext): Promise<number> {
  const { cluster, database, log } = ctx;
  switch (call.name) {
    case 'repair':
      return repairDatabase(cluster, database, log);
    case 'rebalance':
      return rebalance(cluster, database, log);
    case 'recluster': {
      const rel = call.args[0];
      const q = rel ? parseQualifiedName(rel) : undefined;
      const table = q ? (await ctx.catalog()).get(q.schema ?? 'public', q.name) : undefined;
      if (!table) throw new PgError({ severity: 'ERROR', code: '42P01', message: `vecshard.recluster: "${rel ?? ''}" is not a distributed table` });
      return recluster(cluster, database, table, log);
    }
    case 'add_node': {
      const n = await addNode(cluster, nodeToAdd(cluster, call.args[0]), log);
      cluster.onMembershipChange();
      return n;
    }
    case 'remove_node': {
      const id = Number(call.args[0]);
      if (!Number.isInteger(id)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.remove_node(node_id) takes the node id (see vecshard.nodes)' });
      const n = await removeNode(cluster, id, log);
      cluster.onMembershipChange();
      return n;
    }
    default: {
      const [shard, from, to] = call.args.map(Number);
      if (![shard, from, to].every(Number.isInteger)) throw new PgError({ severity: 'ERROR', code: '22023', message: 'vecshard.move_shard_placement(shard_id, from_node, to_node) takes three integers' });
      await moveShardPlacement(cluster, database, shard, from, to, log);
      return 0;
    }
  }
}

/** The node vecshard.add_node(url) names: a PostgreSQL server, or (no argument) one more embedded node. */
function nodeToAdd(cluster: Cluster, url: string | null | undefined): NodeSpec {
  const first = cluster.nodes[0];
  if (first.kind === 'pglite') {
    if (url) throw new PgError({ severity: 'ERROR', code: '0A000', message: 'vecshard.add_node: embedded nodes cannot be mixed with PostgreSQL servers; call vecshard.add_node() without an argument' });
    return { kind: 'pglite', dataDir: path.join(path.dirname(first.dataDir), `node-${cluster.nodes.length}`) };
  }
  if (!url) throw new PgError({ severity: 'ERROR', code: '22023', message: "vecshard.add_node('postgres://user:password@host:5432') takes the new node's connection string" });
  try {
    return { kind: 'postgres', ...parseNodeUrl(url), url, poolSize: first.poolSize };
  } catch (e) {
    throw new PgError({ severity: 'ERROR', code: '22023', message: `vecshard.add_node: ${(e as Error).message}` });
  }
}
