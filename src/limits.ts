// Byte limits on what a client may send, set from the config at start (docs/operations.md lists them all).
export const limits = {
  /** Largest protocol message from a client (a Query, a Bind, a CopyData). */
  maxMessageBytes: 256 * 1024 * 1024,
  /** Longest line (row) of COPY FROM STDIN input. */
  maxCopyLineBytes: 64 * 1024 * 1024,
};

export function setLimits(l: Partial<typeof limits>): void {
  Object.assign(limits, l);
}
