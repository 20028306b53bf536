// Which shard a row belongs to: by the hash of its distribution value, or (clustered tables) by the centroid
// nearest to its vector. Also the radii a clustered shard needs so that they still cover the rows put in it.
import { HASHERS, shardIndexForHash } from './hash.ts';
import type { DistributedTable } from './catalog.ts';
import { formatVector, parseVector, type Vec } from '../index/vector.ts';
import type { Metric } from '../index/distance.ts';
import { nearest, routingMetric } from '../index/kmeans.ts';
import { grow, widen } from '../index/bounds.ts';
import { PgError } from '../errors.ts';
import { quoteIdent } from '../sql/quote.ts';

/** The shard index for a distribution value given as text (never NULL: callers refuse that first). */
export function shardIndexFor(table: DistributedTable, text: string): number {
  if (table.method === 'reference') return 0;
  if (table.method === 'clustered') return nearestShard(table, vectorOf(table, text));
  return shardIndexForHash(HASHERS[table.distType!](text), table.shards.length);
}

export function vectorOf(table: DistributedTable, text: string): Vec {
  const v = parseVector(text);
  const dim = table.shards[0]?.geometry?.centroid.length;
  if (!v || (dim !== undefined && v.length !== dim)) {
    throw new PgError({
      severity: 'ERROR',
      code: '22000',
      message: `vecshard: "${text.length > 60 ? text.slice(0, 57) + '...' : text}" is not a ${dim ?? ''}-dimensional vector for "${table.distColumn}" of "${table.name}"`,
    });
  }
  return v;
}

export function nearestShard(table: DistributedTable, v: Vec): number {
  return nearest(routingMetric(table.metric ?? 'l2'), v, table.shards.map((s) => s.geometry!.centroid));
}

/** Collects how far rows reach from their shards' centroids; `sql()` grows the catalog's radii to cover them. */
export class RadiusTracker {
  #grown = new Map<number, { radiusL2: number; radiusAngle: number }>();

  constructor(readonly table: DistributedTable) {}

  add(shardIndex: number, v: Vec): void {
    const shard = this.table.shards[shardIndex];
    const current = this.#grown.get(shardIndex) ?? { radiusL2: shard.geometry!.radiusL2, radiusAngle: shard.geometry!.radiusAngle };
    const g = grow({ centroid: shard.geometry!.centroid, ...current }, v);
    if (g.radiusL2 > current.radiusL2 || g.radiusAngle > current.radiusAngle) this.#grown.set(shardIndex, g);
  }

  /** Catalog statements for the shards whose radii must grow (greatest(): concurrent growers never shrink them). */
  sql(): string | undefined {
    if (!this.#grown.size) return undefined;
    return [...this.#grown]
      .map(([i, g]) => {
        const s = this.table.shards[i];
        return `UPDATE vecshard.shards SET radius_l2 = greatest(radius_l2, ${widen(g.radiusL2)}), radius_angle = greatest(radius_angle, ${widen(g.radiusAngle, Math.PI)}) WHERE shard_id = ${s.id}`;
      })
      .join('; ');
  }
}

/**
 * SQL for the index of the centroid nearest to `row`.`column`, computed by the node itself (so every copy of a
 * shard decides alike): ties go to the lower index, as nearest() does.
 */
export function nearestCentroidSql(centroids: Vec[], metric: Metric, row: string, column: string): string {
  const op = { l2: '<->', cosine: '<=>', ip: '<->', l1: '<+>' }[routingMetric(metric)];
  const list = centroids.map((c, i) => `(${i}, '${formatVector(c)}'::vector)`).join(', ');
  return `(SELECT c.i FROM (VALUES ${list}) AS c (i, v) ORDER BY ${row}.${quoteIdent(column)} ${op} c.v, c.i LIMIT 1)`;
}
