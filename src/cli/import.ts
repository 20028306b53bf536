// `vecshard import`: a file into a table, in batches, each one COPY committed together with how far the import
// has got (one transaction), so an interrupted import resumes where it stopped without duplicating rows.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { toTextField } from '../executor/copy-rows.ts';
import { ImportError, openSource, type Format } from './sources.ts';
import { parseQualifiedName, quoteIdent } from '../sql/quote.ts';

export interface ImportOptions {
  table: string;
  format: Format;
  batch: number;
  idColumn: string;
  vectorColumn: string;
  idStart: number;
  columns?: string[];
  restart: boolean;
  /** Tests only: after this many batches committed, send the next one but stop before its COMMIT and wait to be
   *  killed (an interruption at a known row, with a batch in flight). */
  holdAfterBatches?: number;
}

export interface ImportProgress {
  rows: number;
  /** Rows in the file, when known. */
  total: number | undefined;
  /** Share of the file read, 0–1. */
  share: number;
  rowsPerSecond: number;
  etaSeconds: number | undefined;
  resumedFrom: number;
}

/** The --table argument as SQL: read as Postgres reads a table name ('app.items', '"My.Table"'). */
function qualified(t: string): string {
  const q = parseQualifiedName(t);
  if (!q) throw new ImportError(`--table "${t}" is not a table name`);
  return q.schema === undefined ? quoteIdent(q.name) : `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

/** Which import this is: the table, the file's name, size and first 64 KiB (a changed file starts over). */
function importKey(file: string, table: string): string {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(65536);
  const n = fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  return crypto.createHash('sha256').update(`${table}\0${path.basename(file)}\0${fs.statSync(file).size}\0`).update(head.subarray(0, n)).digest('hex').slice(0, 32);
}

/** Says where it stopped, then waits (at most ten minutes) for the test that asked for it to kill the process. */
async function holdForKill(batches: number, rows: number): Promise<void> {
  process.stderr.write(`holding before the commit of batch ${batches + 1} (${rows} rows committed)\n`);
  await new Promise((r) => setTimeout(r, 600_000));
}

export async function runImport(client: pg.Client, file: string, o: ImportOptions, onProgress: (p: ImportProgress) => void): Promise<{ rows: number; resumedFrom: number; alreadyDone: boolean }> {
  const source = await openSource(file, o.format, o);
  const key = importKey(file, o.table);
  await client.query(
    `CREATE SCHEMA IF NOT EXISTS vecshard_import;
     CREATE TABLE IF NOT EXISTS vecshard_import.progress (key text PRIMARY KEY, table_name text NOT NULL, file text NOT NULL, rows_done bigint NOT NULL, finished boolean NOT NULL DEFAULT false, updated_at timestamptz NOT NULL DEFAULT now())`,
  );
  if (o.restart) await client.query('DELETE FROM vecshard_import.progress WHERE key = $1', [key]);
  const prev = (await client.query('SELECT rows_done::float8 AS rows, finished FROM vecshard_import.progress WHERE key = $1', [key])).rows[0];
  const resumedFrom = prev ? Number(prev.rows) : 0;
  if (prev?.finished) return { rows: resumedFrom, resumedFrom, alreadyDone: true };

  const copySql = `COPY ${qualified(o.table)} (${source.columns.map(quoteIdent).join(', ')}) FROM STDIN`;
  const record = (rows: number, finished: boolean) =>
    client.query(
      `INSERT INTO vecshard_import.progress (key, table_name, file, rows_done, finished) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (key) DO UPDATE SET rows_done = EXCLUDED.rows_done, finished = EXCLUDED.finished, updated_at = now()`,
      [key, o.table, path.resolve(file), rows, finished],
    );
  let done = resumedFrom;
  let batches = 0;
  let batch: string[] = [];
  const t0 = performance.now();
  let lastAt = 0;
  const report = () => {
    const secs = (performance.now() - t0) / 1000;
    const rate = secs > 0 ? (done - resumedFrom) / secs : 0;
    const share = source.total ? done / source.total : source.bytes ? lastAt / source.bytes : 1;
    const eta = source.total ? (rate > 0 ? (source.total - done) / rate : undefined) : share > 0 && share < 1 ? (secs / share) * (1 - share) : undefined;
    onProgress({ rows: done, total: source.total, share, rowsPerSecond: rate, etaSeconds: eta, resumedFrom });
  };
  const flush = async () => {
    if (!batch.length) return;
    const lines = batch;
    batch = [];
    // The rows and the progress row commit together: after a crash either both are there or neither is.
    await client.query('BEGIN');
    try {
      await pipeline(Readable.from([lines.join('')]), client.query(copyFrom(copySql)));
      await record(done + lines.length, false);
      if (batches === o.holdAfterBatches) await holdForKill(batches, done);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    }
    done += lines.length;
    batches++;
    report();
  };
  for await (const { values, at } of source.rows(resumedFrom)) {
    if (values.length !== source.columns.length) throw new ImportError(`row ${done + batch.length + 1} has ${values.length} values for ${source.columns.length} columns`);
    batch.push(values.map(toTextField).join('\t') + '\n');
    lastAt = at;
    if (batch.length >= o.batch) await flush();
  }
  await flush();
  await record(done, true);
  lastAt = source.bytes;
  report();
  return { rows: done, resumedFrom, alreadyDone: false };
}
