// Files `vecshard import` reads: JSON lines, CSV with a header, NumPy .npy (2-d float arrays) and the
// .fvecs / .bvecs files of the ANN benchmarks. Each yields rows as text values ready for COPY, with how far
// into the file it is (for the progress bar).
import fs from 'node:fs';
import { CsvParser } from '../executor/copy-rows.ts';
import { formatVector } from '../index/vector.ts';

export type Format = 'jsonl' | 'csv' | 'npy' | 'fvecs' | 'bvecs';

export interface Source {
  columns: string[];
  /** Rows in the file, when known without reading it all (vector files); undefined for text files. */
  total: number | undefined;
  bytes: number;
  /** Rows, each with the bytes read so far; the first `skip` rows are passed over without being converted. */
  rows(skip: number): AsyncGenerator<{ values: Array<string | null>; at: number }>;
}

export class ImportError extends Error {}

export function detectFormat(file: string): Format {
  const ext = file.toLowerCase().match(/\.(jsonl|ndjson|json|csv|npy|fvecs|bvecs)$/)?.[1];
  if (!ext) throw new ImportError(`cannot tell the format of ${file} from its name; pass --format jsonl|csv|npy|fvecs|bvecs`);
  return ext === 'ndjson' || ext === 'json' ? 'jsonl' : (ext as Format);
}


/** A JSON value as a COPY text value: arrays of numbers are vectors, other objects are JSON. */
function jsonValue(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (Array.isArray(v) && v.every((x) => typeof x === 'number')) return formatVector(v);
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

async function* lines(file: string): AsyncGenerator<{ line: string; at: number }> {
  let rest = '';
  let at = 0;
  for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    at += Buffer.byteLength(chunk as string);
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const line of parts) yield { line, at };
  }
  if (rest) yield { line: rest, at };
}

async function firstLine(file: string): Promise<string> {
  for await (const { line } of lines(file)) if (line.trim()) return line;
  throw new ImportError(`${file} is empty`);
}

export async function openSource(file: string, format: Format, opts: { idColumn: string; vectorColumn: string; idStart: number; columns?: string[] }): Promise<Source> {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new ImportError(`cannot read ${file}: no such file`);
  }
  const bytes = stat.size;
  switch (format) {
    case 'jsonl': {
      const first = JSON.parse(await firstLine(file));
      const columns = opts.columns ?? Object.keys(first);
      return {
        columns,
        total: undefined,
        bytes,
        async *rows(skip) {
          let n = 0;
          let lineNo = 0;
          for await (const { line, at } of lines(file)) {
            lineNo++;
            if (!line.trim()) continue;
            if (n++ < skip) continue;
            let obj: Record<string, unknown>;
            try {
              obj = JSON.parse(line);
            } catch (e) {
              throw new ImportError(`${file}, line ${lineNo}: not JSON (${(e as Error).message})`);
            }
            yield { values: columns.map((c) => jsonValue(obj[c])), at };
          }
        },
      };
    }
    case 'csv': {
      const header = new CsvParser().push((await firstLine(file)) + '\n')[0].map((h) => h ?? '');
      const pick = opts.columns ? opts.columns.map((c) => {
        const i = header.indexOf(c);
        if (i < 0) throw new ImportError(`${file} has no column "${c}" (its header: ${header.join(', ')})`);
        return i;
      }) : header.map((_, i) => i);
      return {
        columns: pick.map((i) => header[i]),
        total: undefined,
        bytes,
        async *rows(skip) {
          const parser = new CsvParser();
          let n = -1; // the header
          let at = 0;
          for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
            at += Buffer.byteLength(chunk as string);
            for (const row of parser.push(chunk as string)) {
              if (n++ < skip) continue;
              yield { values: pick.map((i) => row[i] ?? null), at };
            }
          }
          for (const row of parser.end()) if (n++ >= skip) yield { values: pick.map((i) => row[i] ?? null), at };
        },
      };
    }
    case 'npy':
      return npySource(file, bytes, opts);
    case 'fvecs':
    case 'bvecs':
      return vecsSource(file, bytes, format, opts);
  }
}

/** NumPy's .npy format: magic, version, a header dict (dtype, order, shape), then the raw array. */
function npySource(file: string, bytes: number, opts: { idColumn: string; vectorColumn: string; idStart: number }): Source {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(Math.min(bytes, 65536));
  fs.readSync(fd, head, 0, head.length, 0);
  fs.closeSync(fd);
  if (head.subarray(0, 6).toString('latin1') !== '\x93NUMPY') throw new ImportError(`${file} is not a .npy file`);
  const major = head[6];
  const headerLen = major === 1 ? head.readUInt16LE(8) : head.readUInt32LE(8);
  const offset = (major === 1 ? 10 : 12) + headerLen;
  const header = head.subarray(major === 1 ? 10 : 12, offset).toString('latin1');
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (/'fortran_order':\s*True/.test(header)) throw new ImportError(`${file}: Fortran-ordered arrays are not supported; save it with numpy.ascontiguousarray`);
  const types: Record<string, [number, (b: Buffer, o: number) => number]> = {
    '<f4': [4, (b, o) => b.readFloatLE(o)],
    '<f8': [8, (b, o) => b.readDoubleLE(o)],
    '|u1': [1, (b, o) => b[o]],
  };
  if (!descr || !types[descr]) throw new ImportError(`${file}: dtype ${descr} is not supported (float32, float64 or uint8)`);
  if (!shape || shape.length !== 2) throw new ImportError(`${file}: expected a 2-d array (rows × dimensions), got shape (${shape?.join(', ')})`);
  const [rows, dim] = shape;
  const [size, read] = types[descr];
  return fixedRows(file, bytes, offset, rows, dim * size, (b, o) => Array.from({ length: dim }, (_, j) => read(b, o + j * size)), opts);
}

/** .fvecs / .bvecs: each vector is its dimension (int32) then that many float32 / uint8 values. */
function vecsSource(file: string, bytes: number, format: 'fvecs' | 'bvecs', opts: { idColumn: string; vectorColumn: string; idStart: number }): Source {
  const fd = fs.openSync(file, 'r');
  const head = Buffer.alloc(4);
  fs.readSync(fd, head, 0, 4, 0);
  fs.closeSync(fd);
  const dim = head.readInt32LE(0);
  const size = format === 'fvecs' ? 4 : 1;
  const record = 4 + dim * size;
  if (dim <= 0 || bytes % record !== 0) throw new ImportError(`${file} is not a .${format} file (dimension ${dim}, size ${bytes} bytes)`);
  const read = format === 'fvecs' ? (b: Buffer, o: number) => b.readFloatLE(o) : (b: Buffer, o: number) => b[o];
  return fixedRows(file, bytes, 0, bytes / record, record, (b, o) => Array.from({ length: dim }, (_, j) => read(b, o + 4 + j * size)), opts);
}

/** Vector files have fixed-size records: skipping is a seek, and the row count is known up front. */
function fixedRows(
  file: string,
  bytes: number,
  offset: number,
  total: number,
  record: number,
  decode: (b: Buffer, at: number) => number[],
  opts: { idColumn: string; vectorColumn: string; idStart: number },
): Source {
  return {
    columns: [opts.idColumn, opts.vectorColumn],
    total,
    bytes,
    async *rows(skip) {
      const perChunk = Math.max(1, Math.floor((1 << 20) / record));
      const fd = fs.openSync(file, 'r');
      try {
        for (let i = skip; i < total; i += perChunk) {
          const n = Math.min(perChunk, total - i);
          const buf = Buffer.alloc(n * record);
          fs.readSync(fd, buf, 0, buf.length, offset + i * record);
          for (let k = 0; k < n; k++) yield { values: [String(opts.idStart + i + k), formatVector(decode(buf, k * record))], at: offset + (i + k + 1) * record };
        }
      } finally {
        fs.closeSync(fd);
      }
    },
  };
}
