import { beforeAll, expect, it } from 'vitest';
import { loadParser, parseCacheSize, parseSql } from './parse.ts';

beforeAll(() => loadParser());

it('keeps the parse cache bounded in entries and in text; long statements are not kept', () => {
  const long = `SELECT '${'x'.repeat(100_000)}'`;
  parseSql(long);
  expect(parseCacheSize().chars).toBeLessThan(100_000);
  for (let i = 0; i < 5000; i++) parseSql(`SELECT ${i}, '${'y'.repeat(10_000)}'`);
  const { entries, chars } = parseCacheSize();
  expect(entries).toBeLessThanOrEqual(2000);
  expect(chars).toBeLessThanOrEqual(4 * 1024 * 1024);
  // Still a cache: the same text gives the same tree.
  expect(parseSql('SELECT 1')).toBe(parseSql('SELECT 1'));
});
