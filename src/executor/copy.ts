// COPY ... FROM STDIN into a distributed table: rows parsed as they arrive, routed by their distribution value,
// sequence defaults filled in, then written to each shard with COPY (text format).
import { RadiusTracker, nearestShard, shardIndexFor, vectorOf } from '../shards/route.ts';
import { PgError } from '../shards/node-connection.ts';
import { quoteIdent } from '../shards/internal-query.ts';
import { SHARD_SCHEMA } from '../shards/catalog.ts';
import { constText, type Node } from '../sql/ast.ts';
import type { CopyPlan } from '../planner/distributed.ts';
import { CsvParser, LineSplitter, textField, toTextField } from './copy-rows.ts';

export class DistCopyIn {
  readonly perShard = new Map<number, string[]>();
  rows = 0;
  #lines?: LineSplitter;
  #csv?: CsvParser;
  #skipHeader: boolean;
  /** Clustered tables: how far the rows reach from their centroids (the catalog's radii grow before commit). */
  readonly radii: RadiusTracker;
  #distIdx: number;
  #nullString: string;
  #delimiter: string;
  /** Columns the client did not send whose defaults the coordinator evaluates (sequences, distribution column). */
  readonly extraColumns: string[];
  #pending: Array<Array<string | null>> = [];
  /**
   * Text rows in the shards' own format (tab, \N) with nothing to add go to the shards as the client sent them:
   * only the distribution value is read out of each line.
   */
  #raw: boolean;
  #pendingRaw: Array<[line: string, dist: string | null]> = [];

  constructor(
    readonly plan: CopyPlan,
    readonly evalDefault: (expr: string, n: number) => Promise<Array<string | null>>,
  ) {
    this.radii = new RadiusTracker(plan.table);
    const opt = (name: string) => {
      const d = plan.options.find((o: Node) => o.DefElem.defname === name)?.DefElem;
      return d ? (constText(d.arg) ?? d.arg?.String?.sval) : undefined;
    };
    this.#skipHeader = plan.header;
    this.#delimiter = opt('delimiter') ?? (plan.format === 'csv' ? ',' : '\t');
    this.#nullString = opt('null') ?? (plan.format === 'csv' ? '' : '\\N');
    if (plan.format === 'csv') this.#csv = new CsvParser(this.#delimiter, opt('quote') ?? '"', opt('escape') ?? opt('quote') ?? '"', this.#nullString);
    else this.#lines = new LineSplitter();
    const t = plan.table;
    this.extraColumns = t.columns
      .filter((c) => !plan.columns.includes(c.name) && (c.sequenceDefault || (c.name === t.distColumn && c.default)))
      .map((c) => c.name);
    this.#distIdx = t.distColumn ? [...plan.columns, ...this.extraColumns].indexOf(t.distColumn) : -1;
    this.#raw = plan.format === 'text' && this.#delimiter === '\t' && this.#nullString === '\\N' && !this.extraColumns.length;
    if (this.#distIdx < 0 && t.method === 'hash') {
      throw new PgError({ severity: 'ERROR', code: '23502', message: `vecshard: COPY into "${t.name}" must include the distribution column "${t.distColumn}"` });
    }
  }

  get columns(): string[] {
    return [...this.plan.columns, ...this.extraColumns];
  }

  /** Takes one CopyData payload. */
  async push(data: Buffer): Promise<void> {
    if (this.#csv) for (const r of this.#csv.push(data.toString('utf8'))) this.#pending.push(r);
    else for (const l of this.#lines!.push(data)) this.#takeLine(l);
    if (this.#pending.length + this.#pendingRaw.length >= 5000) await this.#route();
  }

  async end(): Promise<void> {
    if (this.#csv) for (const r of this.#csv.end()) this.#pending.push(r);
    else for (const l of this.#lines!.end()) this.#takeLine(l);
    await this.#route();
  }

  #takeLine(line: string): void {
    if (line === '\\.') return;
    if (this.#raw) {
      const dist = this.plan.table.method === 'reference' ? '' : fieldAt(line, this.#distIdx);
      // A line too short to hold the distribution value takes the long way, which reports it.
      if (dist !== undefined) return void this.#pendingRaw.push([line, dist === null ? null : textField(dist, this.#nullString)]);
    }
    this.#pending.push(line.split(this.#delimiter).map((f) => textField(f, this.#nullString)));
  }

  async #route(): Promise<void> {
    const raw = this.#pendingRaw;
    this.#pendingRaw = [];
    for (const [line, v] of raw) {
      if (this.#skipHeader) {
        this.#skipHeader = false;
        continue;
      }
      this.#place(v, line);
    }
    let rows = this.#pending;
    this.#pending = [];
    if (this.#skipHeader && rows.length) {
      rows = rows.slice(1);
      this.#skipHeader = false;
    }
    if (!rows.length) return;
    const t = this.plan.table;
    for (const name of this.extraColumns) {
      const col = t.columns.find((c) => c.name === name)!;
      const vals = await this.evalDefault((col.sequenceDefault ?? col.default)!, rows.length);
      rows.forEach((r, i) => r.push(vals[i]));
    }
    const width = this.columns.length;
    for (const r of rows) {
      if (r.length !== width) {
        throw new PgError({ severity: 'ERROR', code: '22P04', message: `vecshard: COPY row ${this.rows + 1} has ${r.length - this.extraColumns.length} columns, expected ${this.plan.columns.length}` });
      }
      this.#place(t.method === 'reference' ? '' : r[this.#distIdx], r.map(toTextField).join('\t'));
    }
  }

  /** Puts one row (a text-format line) on its shard's list. */
  #place(v: string | null, line: string): void {
    const t = this.plan.table;
    if (v === null) throw new PgError({ severity: 'ERROR', code: '23502', message: `vecshard: the distribution column "${t.distColumn}" of "${t.name}" cannot be NULL (COPY row ${this.rows + 1})` });
    let index: number;
    if (t.method === 'clustered') {
      const vec = vectorOf(t, v);
      index = nearestShard(t, vec);
      this.radii.add(index, vec);
    } else index = t.method === 'reference' ? 0 : shardIndexFor(t, v);
    let list = this.perShard.get(index);
    if (!list) this.perShard.set(index, (list = []));
    list.push(line);
    this.rows++;
  }

  copySql(index: number): string {
    return `COPY ${SHARD_SCHEMA}.${quoteIdent(this.plan.table.shards[index].name)} (${this.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  }
}

/** The raw text of tab-separated field `i` of a line (undefined when the line has fewer fields). */
function fieldAt(line: string, i: number): string | undefined {
  let start = 0;
  for (let k = 0; k < i; k++) {
    const tab = line.indexOf('\t', start);
    if (tab < 0) return undefined;
    start = tab + 1;
  }
  const end = line.indexOf('\t', start);
  return line.slice(start, end < 0 ? line.length : end);
}
