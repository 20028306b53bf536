// COPY ... FROM STDIN into a distributed table: rows parsed as they arrive, routed by their distribution value,
// sequence defaults filled in, then written to each shard with COPY (text format, or binary as the client sent it).
import { RadiusTracker, nearestShard, shardIndexFor, vectorOf } from '../metadata/route.ts';
import type { Vec } from '../index/vector.ts';
import { SHARD_SCHEMA } from '../metadata/catalog.ts';
import { constText, type Node } from '../sql/ast.ts';
import type { CopyPlan } from '../planner/statement.ts';
import { ByteLineSplitter, CsvParser, LineSplitter, textField, toTextField } from './copy-rows.ts';
import { BinaryTupleSplitter, binaryField, binaryDefault, shardOfBinary, vectorOfBinary } from './copy-binary.ts';
import { PgError } from '../errors.ts';
import { quoteIdent } from '../sql/quote.ts';

export class DistCopyIn {
  /** Each shard's routed rows: text-format lines without their newlines, or binary tuples. */
  readonly perShard = new Map<number, Buffer[]>();
  /** Bytes of the lines in perShard (a batch is sent when they are many). */
  pendingBytes = 0;
  rows = 0;
  #lines?: LineSplitter;
  #bytes?: ByteLineSplitter;
  #csv?: CsvParser;
  #binary?: BinaryTupleSplitter;
  /** Binary tuples waiting for the defaults the coordinator adds to them. */
  #pendingTuples: Buffer[] = [];
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
   * Text rows in the shards' own format (tab, \N) with nothing to add go to the shards as the client sent them,
   * as bytes: only the distribution value is read out of each line (decoding whole lines and encoding them again
   * was most of the coordinator's work in a COPY).
   */
  #raw: boolean;

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
    const t = plan.table;
    this.extraColumns = t.columns
      .filter((c) => !plan.columns.includes(c.name) && (c.sequenceDefault || (c.name === t.distColumn && c.default)))
      .map((c) => c.name);
    this.#distIdx = t.distColumn ? [...plan.columns, ...this.extraColumns].indexOf(t.distColumn) : -1;
    this.#raw = plan.format === 'text' && this.#delimiter === '\t' && this.#nullString === '\\N' && !this.extraColumns.length;
    if (plan.format === 'binary') this.#binary = new BinaryTupleSplitter(plan.columns.length);
    else if (plan.format === 'csv') this.#csv = new CsvParser(this.#delimiter, opt('quote') ?? '"', opt('escape') ?? opt('quote') ?? '"', this.#nullString);
    else if (this.#raw) this.#bytes = new ByteLineSplitter();
    else this.#lines = new LineSplitter();
    if (this.#distIdx < 0 && t.method === 'hash') {
      throw new PgError({ severity: 'ERROR', code: '23502', message: `vecshard: COPY into "${t.name}" must include the distribution column "${t.distColumn}"` });
    }
  }

  get columns(): string[] {
    return [...this.plan.columns, ...this.extraColumns];
  }

  get binary(): boolean {
    return !!this.#binary;
  }

  /** Takes one CopyData payload. */
  async push(data: Buffer): Promise<void> {
    if (this.#binary) {
      for (const t of this.#binary.push(data)) this.#takeTuple(t);
      if (this.#pendingTuples.length >= 5000) await this.#routeTuples();
      return;
    }
    if (this.#csv) for (const r of this.#csv.push(data.toString('utf8'))) this.#pending.push(r);
    else if (this.#bytes) for (const l of this.#bytes.push(data)) this.#takeRaw(l);
    else for (const l of this.#lines!.push(data)) this.#takeLine(l);
    if (this.#pending.length >= 5000) await this.#route();
  }

  async end(): Promise<void> {
    if (this.#binary) {
      this.#binary.end();
      return this.#routeTuples();
    }
    if (this.#csv) for (const r of this.#csv.end()) this.#pending.push(r);
    else if (this.#bytes) for (const l of this.#bytes.end()) this.#takeRaw(l);
    else for (const l of this.#lines!.end()) this.#takeLine(l);
    await this.#route();
  }

  #takeLine(line: string): void {
    if (line === '\\.') return;
    this.#pending.push(line.split(this.#delimiter).map((f) => textField(f, this.#nullString)));
  }

  /** One line in the shards' own format, placed as it came: only its distribution field is decoded. */
  #takeRaw(line: Buffer): void {
    if (line.length === 2 && line[0] === 0x5c && line[1] === 0x2e) return; // \.
    if (this.#skipHeader && !this.#pending.length) {
      this.#skipHeader = false;
      return;
    }
    if (this.plan.table.method === 'reference') return this.#place('', line);
    let start = 0;
    for (let k = 0; k < this.#distIdx; k++) {
      const tab = line.indexOf(9, start);
      // A line too short to hold the distribution value takes the long way, which reports it.
      if (tab < 0) return this.#takeLine(line.toString('utf8'));
      start = tab + 1;
    }
    const end = line.indexOf(9, start);
    this.#place(textField(line.toString('utf8', start, end < 0 ? line.length : end), this.#nullString), line);
  }

  /** A binary tuple, placed as it came unless the coordinator adds defaults to it. */
  #takeTuple(tuple: Buffer): void {
    if (this.extraColumns.length) this.#pendingTuples.push(tuple);
    else this.#takeFilled(tuple, []);
  }

  /** Binary tuples with the defaults the client left out appended (the field count grows to match). */
  async #routeTuples(): Promise<void> {
    const tuples = this.#pendingTuples;
    this.#pendingTuples = [];
    if (!tuples.length) return;
    const t = this.plan.table;
    const added: Buffer[][] = tuples.map(() => []);
    const texts: Array<Array<string | null>> = tuples.map(() => []);
    for (const name of this.extraColumns) {
      const col = t.columns.find((c) => c.name === name)!;
      const vals = await this.evalDefault((col.sequenceDefault ?? col.default)!, tuples.length);
      vals.forEach((v, i) => {
        added[i].push(binaryDefault(col.type, v, name));
        texts[i].push(v);
      });
    }
    const count = this.columns.length;
    tuples.forEach((tuple, i) => {
      const head = Buffer.allocUnsafe(2);
      head.writeInt16BE(count);
      const row = Buffer.concat([head, tuple.subarray(2), ...added[i]]);
      this.#takeFilled(row, texts[i]);
    });
  }

  /** A tuple whose added defaults are `texts`: the distribution value is one of them or the client's. */
  #takeFilled(row: Buffer, texts: Array<string | null>): void {
    const t = this.plan.table;
    const sent = this.plan.columns.length;
    if (t.method === 'reference') return this.#put(0, row);
    if (this.#distIdx >= sent) return this.#place(texts[this.#distIdx - sent], row);
    const v = this.#distIdx < 0 ? null : binaryField(row, this.#distIdx);
    if (v === null) return this.#place(null, row);
    if (t.method === 'hash') return this.#put(shardOfBinary(t, v), row);
    this.#place('', row, vectorOfBinary(v));
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
      this.#place(t.method === 'reference' ? '' : r[this.#distIdx], Buffer.from(r.map(toTextField).join('\t'), 'utf8'));
    }
  }

  /** Puts one row on its shard's list, by its distribution value in text form (or its vector, given). */
  #place(v: string | null, line: Buffer, given?: Vec): void {
    const t = this.plan.table;
    if (v === null) throw new PgError({ severity: 'ERROR', code: '23502', message: `vecshard: the distribution column "${t.distColumn}" of "${t.name}" cannot be NULL (COPY row ${this.rows + 1})` });
    let index: number;
    if (t.method === 'clustered') {
      const dim = t.shards[0]?.geometry?.centroid.length;
      if (given && dim !== undefined && given.length !== dim) {
        throw new PgError({ severity: 'ERROR', code: '22000', message: `vecshard: a ${given.length}-dimensional vector for "${t.distColumn}" of "${t.name}", which has ${dim} (COPY row ${this.rows + 1})` });
      }
      const vec = given ?? vectorOf(t, v);
      index = nearestShard(t, vec);
      this.radii.add(index, vec);
    } else index = t.method === 'reference' ? 0 : shardIndexFor(t, v);
    this.#put(index, line);
  }

  #put(index: number, line: Buffer): void {
    let list = this.perShard.get(index);
    if (!list) this.perShard.set(index, (list = []));
    list.push(line);
    this.pendingBytes += line.length;
    this.rows++;
  }

  copySql(index: number): string {
    return `COPY ${SHARD_SCHEMA}.${quoteIdent(this.plan.table.shards[index].name)} (${this.columns.map(quoteIdent).join(', ')}) FROM STDIN${this.#binary ? ' WITH (FORMAT binary)' : ''}`;
  }
}

