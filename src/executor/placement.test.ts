// Where reads go: a statement's shards spread over the nodes holding copies (they had all gone to one node when
// each shard listed its copies in a rotated order), away from nodes with reads under way, never to a node down.
import { expect, it } from 'vitest';
import type { Cluster } from '../shards/cluster.ts';
import type { DistributedTable } from '../metadata/catalog.ts';
import { placeReads, underWay } from './placement.ts';

const table = { shards: Array.from({ length: 4 }, (_, i) => ({ index: i, name: `t_000${i}`, nodes: [i % 2, (i + 1) % 2] })) } as unknown as DistributedTable;
const tasks = table.shards.map((s) => ({ nodeId: -1, shard: s.name, shardIndex: s.index, sql: '', params: { values: [], formats: [], types: [] } }));
const cluster = (down: number[] = []) => ({ isUp: (n: number) => !down.includes(n) }) as unknown as Cluster;

it("spreads one statement's shards evenly over the nodes, whatever the turn", () => {
  const c = cluster();
  for (let turn = 0; turn < 6; turn++) {
    const nodes = placeReads(tasks, table, c, turn).map((t) => t.nodeId);
    expect(nodes.filter((n) => n === 0), `turn ${turn}: ${nodes}`).toHaveLength(2);
  }
});

it('sends a read where fewer reads are under way, and never to a node that is down', () => {
  const c = cluster();
  const done = underWay(c, [tasks[0], tasks[1], tasks[2]].map((t) => ({ ...t, nodeId: 0 })));
  for (let turn = 0; turn < 4; turn++) expect(placeReads([tasks[0]], table, c, turn)[0].nodeId).toBe(1);
  done();
  expect(new Set([0, 1, 2, 3].map((turn) => placeReads([tasks[0]], table, c, turn)[0].nodeId))).toEqual(new Set([0, 1]));
  expect(placeReads(tasks, table, cluster([1]), 0).map((t) => t.nodeId)).toEqual([0, 0, 0, 0]);
});
