// COPY data, row by row: splitting text and CSV input, reading the distribution field, writing text-format lines.
import { PgError } from '../errors.ts';
import { limits } from '../limits.ts';

/** A line (row) over limits.maxCopyLineBytes: refused before it is held whole. */
function lineTooLong(): PgError {
  return new PgError({
    severity: 'ERROR',
    code: '54000',
    message: `vecshard: a COPY line is longer than ${limits.maxCopyLineBytes} bytes`,
    hint: 'Raise limits.maxCopyLineBytes in the config, or check that the data has line ends.',
  });
}

/** Splits COPY text-format input into lines (a line never holds a raw newline: it is escaped as \n). */
export class LineSplitter {
  #rest = '';
  push(chunk: Buffer): string[] {
    const s = this.#rest + chunk.toString('utf8');
    const lines = s.split('\n');
    this.#rest = lines.pop()!;
    if (this.#rest.length > limits.maxCopyLineBytes || lines.some((l) => l.length > limits.maxCopyLineBytes)) throw lineTooLong();
    return lines;
  }
  end(): string[] {
    const r = this.#rest;
    this.#rest = '';
    return r === '' ? [] : [r];
  }
}

/**
 * Splits COPY text-format input into lines as views of the input bytes, without decoding them (a newline byte
 * never occurs inside a UTF-8 character). Lines exclude their newline.
 */
export class ByteLineSplitter {
  /** The start of a line whose end has not come yet, as chunks (joined once, when it ends). */
  #rest: Buffer[] = [];
  #restBytes = 0;

  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let start = 0;
    if (this.#restBytes) {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        this.#hold(chunk);
        return out;
      }
      if (this.#restBytes + nl > limits.maxCopyLineBytes) throw lineTooLong();
      out.push(Buffer.concat([...this.#rest, chunk.subarray(0, nl)]));
      this.#rest = [];
      this.#restBytes = 0;
      start = nl + 1;
    }
    for (let nl = chunk.indexOf(10, start); nl >= 0; nl = chunk.indexOf(10, start)) {
      if (nl - start > limits.maxCopyLineBytes) throw lineTooLong();
      out.push(chunk.subarray(start, nl));
      start = nl + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start));
    return out;
  }

  #hold(part: Buffer): void {
    this.#restBytes += part.length;
    if (this.#restBytes > limits.maxCopyLineBytes) throw lineTooLong();
    this.#rest.push(part);
  }

  end(): Buffer[] {
    const r = this.#restBytes ? Buffer.concat(this.#rest) : undefined;
    this.#rest = [];
    this.#restBytes = 0;
    return r ? [r] : [];
  }
}

/** A text-format field's value: \N is NULL, backslash escapes decoded. */
export function textField(raw: string, nullString = '\\N'): string | null {
  if (raw === nullString) return null;
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\([0-7]{1,3}|x[0-9a-fA-F]{1,2}|.)/g, (_, e: string) => {
    switch (e[0]) {
      case 'b': return '\b';
      case 'f': return '\f';
      case 'n': return '\n';
      case 'r': return '\r';
      case 't': return '\t';
      case 'v': return '\v';
      case 'x': return String.fromCharCode(parseInt(e.slice(1), 16));
    }
    return /^[0-7]/.test(e) ? String.fromCharCode(parseInt(e, 8)) : e;
  });
}

/** Escapes a value for a text-format field. */
export function toTextField(v: string | null): string {
  if (v === null) return '\\N';
  return v.replace(/[\\\n\r\t]/g, (c) => ({ '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c]!);
}

/** Incremental CSV parser (Postgres's CSV: quote ", escape ", NULL is an unquoted empty field by default). */
export class CsvParser {
  #field = '';
  #fields: Array<string | null> = [];
  #quoted = false;
  #inQuotes = false;
  #afterQuote = false;
  /** Characters of the row being read (against limits.maxCopyLineBytes). */
  #rowChars = 0;
  constructor(
    readonly delimiter = ',',
    readonly quote = '"',
    readonly escape = '"',
    readonly nullString = '',
  ) {}

  push(chunk: string): Array<Array<string | null>> {
    const rows: Array<Array<string | null>> = [];
    for (let i = 0; i < chunk.length; i++) {
      const ch = chunk[i];
      if (++this.#rowChars > limits.maxCopyLineBytes) throw lineTooLong();
      if (this.#inQuotes) {
        if (ch === this.escape && this.escape !== this.quote && chunk[i + 1] !== undefined && (chunk[i + 1] === this.quote || chunk[i + 1] === this.escape)) {
          this.#field += chunk[++i];
        } else if (ch === this.quote) {
          if (this.escape === this.quote && chunk[i + 1] === this.quote) {
            this.#field += this.quote;
            i++;
          } else {
            this.#inQuotes = false;
            this.#afterQuote = true;
          }
        } else this.#field += ch;
        continue;
      }
      if (ch === this.quote && !this.#afterQuote) {
        this.#inQuotes = true;
        this.#quoted = true;
      } else if (ch === this.delimiter) this.#endField();
      else if (ch === '\n') {
        this.#endField();
        rows.push(this.#fields);
        this.#fields = [];
        this.#rowChars = 0;
      } else if (ch === '\r' && chunk[i + 1] === '\n') continue;
      else this.#field += ch;
    }
    return rows;
  }

  end(): Array<Array<string | null>> {
    if (this.#field === '' && this.#fields.length === 0 && !this.#quoted) return [];
    this.#endField();
    const r = this.#fields;
    this.#fields = [];
    return [r];
  }

  #endField(): void {
    this.#fields.push(!this.#quoted && this.#field === this.nullString ? null : this.#field);
    this.#field = '';
    this.#quoted = false;
    this.#afterQuote = false;
  }
}

/** How COPY … TO STDOUT writes rows. */
export interface CopyOutFormat {
  format: 'text' | 'csv';
  header: boolean;
  delimiter: string;
  null: string;
}

/** One COPY output line from text-format values, as Postgres writes it. */
export function copyOutLine(values: Array<string | null>, f: CopyOutFormat): string {
  if (f.format === 'text') {
    return values.map((v) => (v === null ? f.null : toTextField(v).split(f.delimiter).join('\\' + f.delimiter))).join(f.delimiter) + '\n';
  }
  // CSV quotes a value holding the delimiter, a quote, a line break, or that would read back as NULL.
  return values
    .map((v) => {
      if (v === null) return f.null;
      const quote = v === f.null || v.includes(f.delimiter) || /["\r\n]/.test(v) || /^\\\.$/.test(v);
      return quote ? `"${v.replace(/"/g, '""')}"` : v;
    })
    .join(f.delimiter) + '\n';
}
