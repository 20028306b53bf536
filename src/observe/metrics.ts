// What the coordinator counts and times, for Prometheus (prom-client) and the status page.
import client from 'prom-client';

/** One second of statements, for the status page's live rate and latency. */
export interface SecondBucket {
  t: number;
  count: number;
  /** How many of them were timed (totalMs / timed is the mean latency). */
  timed: number;
  totalMs: number;
  maxMs: number;
}

/** State read at scrape time (pools, health, placements) comes from the cluster through this. */
export interface ClusterGauges {
  pools(): Array<{ node: number; database: string; size: number; idle: number; waiting: number }>;
  nodes(): Array<{ node: number; up: boolean }>;
  placements(): Array<{ database: string; state: string; count: number }>;
  clients(): number;
}

const SECONDS_KEPT = 120;
/** Latency buckets, 0.5 ms to 10 s: a routed lookup and a COPY of millions of rows both land in one. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Metrics {
  readonly registry = new client.Registry();
  readonly #statements: client.Counter<'kind'>;
  readonly #statementSeconds: client.Histogram<'kind'>;
  readonly #shardSeconds: client.Histogram<'node'>;
  readonly #errors: client.Counter<'sqlstate'>;
  #seconds: SecondBucket[] = [];
  gauges: ClusterGauges | undefined;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'vecshard_' });
    this.#statements = new client.Counter({ name: 'vecshard_statements_total', help: 'Statements run, by how vecshard ran them', labelNames: ['kind'], registers });
    this.#statementSeconds = new client.Histogram({
      name: 'vecshard_statement_duration_seconds',
      help: 'Time from a statement reaching the coordinator to its last answer, by kind',
      labelNames: ['kind'],
      buckets: BUCKETS,
      registers,
    });
    this.#shardSeconds = new client.Histogram({
      name: 'vecshard_shard_query_duration_seconds',
      help: "Round trip of one node's share of a distributed statement (all its shard tasks, pipelined)",
      labelNames: ['node'],
      buckets: BUCKETS,
      registers,
    });
    this.#errors = new client.Counter({ name: 'vecshard_errors_total', help: 'Errors sent to clients, by SQLSTATE', labelNames: ['sqlstate'], registers });
    const gauges = () => this.gauges;
    new client.Gauge({
      name: 'vecshard_pool_connections',
      help: 'Node connections by node, database and state (busy, idle, waiting for one)',
      labelNames: ['node', 'database', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of gauges()?.pools() ?? []) {
          const labels = { node: String(p.node), database: p.database };
          this.set({ ...labels, state: 'busy' }, p.size - p.idle);
          this.set({ ...labels, state: 'idle' }, p.idle);
          this.set({ ...labels, state: 'waiting' }, p.waiting);
        }
      },
    });
    new client.Gauge({
      name: 'vecshard_node_up',
      help: '1 while the node answers health checks',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const n of gauges()?.nodes() ?? []) this.set({ node: String(n.node) }, n.up ? 1 : 0);
      },
    });
    new client.Gauge({
      name: 'vecshard_placements',
      help: 'Shard copies by database and state (active, inactive), from the catalogs in use',
      labelNames: ['database', 'state'],
      registers,
      collect() {
        this.reset();
        for (const p of gauges()?.placements() ?? []) this.set({ database: p.database, state: p.state }, p.count);
      },
    });
    new client.Gauge({
      name: 'vecshard_client_connections',
      help: 'Clients connected to the coordinator',
      registers,
      collect() {
        this.set(gauges()?.clients() ?? 0);
      },
    });
  }

  // Label children, looked up once per kind: hashing the labels on every statement costs more than the count.
  #counters = new Map<string, client.Counter.Internal>();
  #timers = new Map<string, client.Histogram.Internal<'kind'>>();

  /** A statement vecshard timed. */
  statement(kind: string, ms: number): void {
    let h = this.#timers.get(kind);
    if (!h) this.#timers.set(kind, (h = this.#statementSeconds.labels(kind)));
    h.observe(ms / 1000);
    this.#count(kind, ms);
  }

  /** A statement relayed to a node in a pipeline, whose own time vecshard does not see. */
  relayed(kind: string): void {
    this.#count(kind, undefined);
  }

  #count(kind: string, ms: number | undefined): void {
    let c = this.#counters.get(kind);
    if (!c) this.#counters.set(kind, (c = this.#statements.labels(kind)));
    c.inc();
    const t = Math.floor(Date.now() / 1000);
    let last = this.#seconds[this.#seconds.length - 1];
    if (!last || last.t !== t) {
      last = { t, count: 0, timed: 0, totalMs: 0, maxMs: 0 };
      this.#seconds.push(last);
      if (this.#seconds.length > SECONDS_KEPT) this.#seconds.shift();
    }
    last.count++;
    if (ms === undefined) return;
    last.timed++;
    last.totalMs += ms;
    last.maxMs = Math.max(last.maxMs, ms);
  }

  shardRoundTrip(node: number, ms: number): void {
    this.#shardSeconds.observe({ node: String(node) }, ms / 1000);
  }

  error(sqlstate: string): void {
    this.#errors.inc({ sqlstate });
  }

  /** The last `n` seconds, oldest first, with empty seconds filled in. */
  recentSeconds(n = 60): SecondBucket[] {
    const now = Math.floor(Date.now() / 1000);
    const byT = new Map(this.#seconds.map((b) => [b.t, b]));
    return Array.from({ length: n }, (_, i) => byT.get(now - n + 1 + i) ?? { t: now - n + 1 + i, count: 0, timed: 0, totalMs: 0, maxMs: 0 });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
