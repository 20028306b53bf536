// Shard object names stay within Postgres's 63 bytes and apart from each other, however long the base name.
import { expect, it } from 'vitest';
import { shardObjectName } from './names.ts';

it('keeps short names as they were and makes long ones unique within 63 bytes', () => {
  expect(shardObjectName('items', 7)).toBe('items_0007');
  const long = 'x'.repeat(58);
  const a = shardObjectName(`${long}_alpha`, 1);
  const b = shardObjectName(`${long}_beta`, 1);
  expect(a).not.toBe(b);
  expect(shardObjectName(`${long}_alpha`, 2)).not.toBe(a);
  for (const n of [a, b, shardObjectName('ü'.repeat(40), 3)]) expect(Buffer.byteLength(n)).toBeLessThanOrEqual(63);
  expect(shardObjectName('ü'.repeat(40), 3)).toMatch(/^ü+_[0-9a-f]{8}_0003$/);
});
