// Names of the objects vecshard makes on shards: a shard table, and each index or constraint on it, carry the
// shard's number as a suffix. Postgres cuts identifiers at 63 bytes, so a long base name is shortened and made
// unique with a hash of the whole name: two long names that share their first 58 characters stay apart.
import { createHash } from 'node:crypto';

const MAX_BYTES = 63;

/** `base` + `_0007`, within 63 bytes. */
export function shardObjectName(base: string, index: number): string {
  const suffix = `_${String(index).padStart(4, '0')}`;
  if (Buffer.byteLength(base) + suffix.length <= MAX_BYTES) return base + suffix;
  const hash = '_' + createHash('sha1').update(base).digest('hex').slice(0, 8);
  return truncateBytes(base, MAX_BYTES - suffix.length - hash.length) + hash + suffix;
}

/** The longest prefix of `s` within `max` bytes of UTF-8, cut between characters. */
function truncateBytes(s: string, max: number): string {
  let out = '';
  for (const ch of s) {
    if (Buffer.byteLength(out + ch) > max) break;
    out += ch;
  }
  return out;
}
