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
    if (this.#pending.length >= 5000) await this.#route();
  }

  async end(): Promise<void> {
    if (this.#csv) for (const r of this.#csv.end()) this.#pending.push(r);
    else for (const l of this.#lines!.end()) this.#takeLine(l);
    await this.#route();
  }

  #takeLine(line: string): void {
    if (line === '\\.') return;
    this.#pending.push(line.split(this.#delimiter).map((f) => textField(f, this.#nullString)));
  }

  async #route(): Promise<void> {
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
      const v = t.method === 'reference' ? '' : r[this.#distIdx];
      if (v === null) throw new PgError({ severity: 'ERROR', code: '23502', message: `vecshard: the distribution column "${t.distColumn}" of "${t.name}" cannot be NULL (COPY row ${this.rows + 1})` });
      let index: number;
      if (t.method === 'clustered') {
        const vec = vectorOf(t, v);
        index = nearestShard(t, vec);
        this.radii.add(index, vec);
      } else index = shardIndexFor(t, v);
      const list = this.perShard.get(index) ?? [];
      list.push(r.map(toTextField).join('\t'));
      this.perShard.set(index, list);
      this.rows++;
    }
  }

  copySql(index: number): string {
    return `COPY ${SHARD_SCHEMA}.${quoteIdent(this.plan.table.shards[index].name)} (${this.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  }
}
