// Byte limits on what a client may send (set from the config at start) and on what a statement may hold on the
// coordinator (docs/operations.md lists them all).
export const limits = {
  /** Largest protocol message from a client (a Query, a Bind, a CopyData). */
  maxMessageBytes: 256 * 1024 * 1024,
  /** Longest line (row) of COPY FROM STDIN input. */
  maxCopyLineBytes: 64 * 1024 * 1024,
  /** COPY rows held before a batch goes to the nodes, when they cannot stream (not a config field). */
  copyBatchBytes: 64 * 1024 * 1024,
};

export function setLimits(l: Partial<typeof limits>): void {
  Object.assign(limits, l);
}

/** Bytes of rows a statement may gather on the coordinator unless vecshard.work_mem says otherwise. */
export const DEFAULT_RESULT_LIMIT = 256 * 1024 * 1024;

/** '64MB', '1GB', '512kB', '65536' (kB, as Postgres reads work_mem) as bytes; undefined if it is none of these. */
export function parseMemory(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(kB|MB|GB|TB)?\s*$/i.exec(text);
  if (!m) return undefined;
  const unit = { kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 }[(m[2] ?? 'kB').toLowerCase()]!;
  return Math.round(Number(m[1]) * unit);
}
