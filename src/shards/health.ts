// Health checks: every PostgreSQL node is probed with a new connection each interval. One that does not answer
// in time is down (no new work goes there), and statements waiting on it in silence are ended, since they would
// wait forever on a stopped process or a network black hole; reads then go to another copy.
import { answers } from './pg-node.ts';
import type { Cluster } from './cluster.ts';
import { MAINTENANCE_DB } from './cluster.ts';

export class HealthChecks {
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly cluster: Cluster) {}

  start(intervalMs: number): void {
    const tick = () => {
      void Promise.all(this.cluster.nodes.map((_, i) => this.probe(i))).finally(() => {
        if (this.#timer) this.#timer = setTimeout(tick, intervalMs);
      });
    };
    this.#timer = setTimeout(tick, intervalMs);
  }

  async probe(id: number): Promise<void> {
    const { cluster } = this;
    const spec = cluster.nodes[id];
    if (spec.kind !== 'postgres' || spec.removed) return;
    const timeoutMs = cluster.options.healthCheckTimeoutMs ?? cluster.options.connectTimeoutMs;
    if (await answers(id, MAINTENANCE_DB, spec, timeoutMs)) return cluster.markUp(id);
    cluster.markDown(id);
    for (const p of cluster.poolsOf(id)) p.closeStalled(timeoutMs);
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** Each node as the virtual table vecshard.nodes lists it. */
export function nodeStates(cluster: Cluster): Array<{ id: number; kind: string; host: string; port: number | null; health: string }> {
  return cluster.nodes.map((n, id) => ({
    id,
    kind: n.kind,
    host: n.kind === 'postgres' ? n.host : n.dataDir,
    port: n.kind === 'postgres' ? n.port : null,
    health: n.removed ? 'removed' : cluster.isUp(id) ? 'up' : 'down',
  }));
}
