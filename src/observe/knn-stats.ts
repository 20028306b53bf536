// Coordinator time per kNN query, split by phase, for benchmark P5.
/** Where a kNN query's time goes in the coordinator (benchmark P5): totals since the last reset. */
export class KnnStats {
  count = 0;
  parsePlanMs = 0;
  shardMs = 0;
  mergeMs = 0;

  record(parsePlanMs: number, shardMs: number, mergeMs: number): void {
    this.count++;
    this.parsePlanMs += parsePlanMs;
    this.shardMs += shardMs;
    this.mergeMs += mergeMs;
  }

  reset(): void {
    this.count = this.parsePlanMs = this.shardMs = this.mergeMs = 0;
  }
}
