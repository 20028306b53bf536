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

/**
 * A histogram by one label, counted in plain arrays and handed to prom-client's registry when it is scraped.
 * prom-client's own observe() validates and hashes the labels on every call: under pgbench that was ~8% of the
 * coordinator's CPU, for a statement that costs the coordinator ~40 µs in all.
 */
class Tally {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, { buckets: Float64Array; sum: number; count: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly label: string,
  ) {}

  observe(labelValue: string, seconds: number): void {
    let s = this.#series.get(labelValue);
    if (!s) this.#series.set(labelValue, (s = { buckets: new Float64Array(BUCKETS.length), sum: 0, count: 0 }));
    let i = 0;
    while (i < BUCKETS.length && seconds > BUCKETS[i]) i++;
    if (i < BUCKETS.length) s.buckets[i]++;
    s.sum += seconds;
    s.count++;
  }

  /** The shape prom-client's registry prints (what its own Histogram.get() returns). */
  get(): { name: string; help: string; type: string; aggregator: string; values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> } {
    const values = [];
    for (const [v, s] of this.#series) {
      let cumulative = 0;
      for (let i = 0; i < BUCKETS.length; i++) {
        cumulative += s.buckets[i];
        values.push({ metricName: `${this.name}_bucket`, labels: { le: BUCKETS[i], [this.label]: v }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', [this.label]: v }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: v }, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: v }, value: s.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export class Metrics {
  readonly registry = new client.Registry();
  /** Statements by kind, counted here and read by the prom-client counter at scrape time (see Tally). */
  readonly #statementCounts = new Map<string, number>();
  readonly #statementSeconds = new Tally('vecshard_statement_duration_seconds', 'Time from a statement reaching the coordinator to its last answer, by kind', 'kind');
  readonly #shardSeconds = new Tally('vecshard_shard_query_duration_seconds', "Round trip of one node's share of a distributed statement (all its shard tasks, pipelined)", 'node');
  readonly #errors: client.Counter<'sqlstate'>;
  #seconds: SecondBucket[] = [];
  gauges: ClusterGauges | undefined;

  constructor() {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'vecshard_' });
    const counts = this.#statementCounts;
    new client.Counter({
      name: 'vecshard_statements_total',
      help: 'Statements run, by how vecshard ran them',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const [kind, n] of counts) this.inc({ kind }, n);
      },
    });
    this.registry.registerMetric(this.#statementSeconds as unknown as client.Metric);
    this.registry.registerMetric(this.#shardSeconds as unknown as client.Metric);
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
    const recall = this.#recall;
    new client.Gauge({
      name: 'vecshard_knn_measured_recall',
      help: 'Mean recall@k of kNN answers re-run exactly in the background (SET vecshard.measure_recall), by table',
      labelNames: ['table'],
      registers,
      collect() {
        this.reset();
        for (const [table, r] of recall) this.set({ table }, r.sum / r.n);
      },
    });
    new client.Counter({
      name: 'vecshard_knn_recall_samples_total',
      help: 'kNN answers re-run exactly to measure recall, by table',
      labelNames: ['table'],
      registers,
      collect() {
        this.reset();
        for (const [table, r] of recall) this.inc({ table }, r.n);
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

  /** A statement vecshard timed. */
  statement(kind: string, ms: number): void {
    this.#statementSeconds.observe(kind, ms / 1000);
    this.#count(kind, ms);
  }

  /** A statement relayed to a node in a pipeline, whose own time vecshard does not see. */
  relayed(kind: string): void {
    this.#count(kind, undefined);
  }

  #count(kind: string, ms: number | undefined): void {
    this.#statementCounts.set(kind, (this.#statementCounts.get(kind) ?? 0) + 1);
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

  /** Recall of sampled kNN answers against exact ones (vecshard.measure_recall), by table. */
  readonly #recall = new Map<string, { sum: number; n: number }>();

  knnRecall(table: string, recall: number): void {
    const r = this.#recall.get(table) ?? { sum: 0, n: 0 };
    r.sum += recall;
    r.n++;
    this.#recall.set(table, r);
  }

  /** The mean measured recall of a table's sampled kNN answers, and how many were measured. */
  measuredRecall(table: string): { recall: number; samples: number } | undefined {
    const r = this.#recall.get(table);
    return r && { recall: r.sum / r.n, samples: r.n };
  }

  shardRoundTrip(node: number, ms: number): void {
    this.#shardSeconds.observe(String(node), ms / 1000);
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
