import { beforeAll, describe, expect, it } from 'vitest';
import { changesProtected } from '../../src/sql/protected.ts';
import { loadParser, parseSql, type RawStmt } from '../../src/sql/parse.ts';

beforeAll(() => loadParser());
const check = (sql: string) => changesProtected((parseSql(sql) as RawStmt[])[0].stmt);

describe('changesProtected', () => {
  it('names the catalog object a statement would change', () => {
    expect(check('DROP SCHEMA IF EXISTS vecshard CASCADE')).toBe('schema vecshard');
    expect(check('DROP TABLE IF EXISTS "vecshard"."placements" CASCADE')).toBe('vecshard.placements');
    expect(check('UPDATE vecshard.placements SET state = $1')).toBe('vecshard.placements');
    expect(check('DELETE FROM vecshard_shards.docs_102008')).toBe('vecshard_shards.docs_102008');
    expect(check('ALTER TABLE vecshard.shards ADD COLUMN x int')).toBe('vecshard.shards');
    expect(check('TRUNCATE vecshard.tables')).toBe('vecshard.tables');
    expect(check('CREATE INDEX ON vecshard.shards (shard_name)')).toBe('vecshard.shards');
    expect(check('SELECT * INTO vecshard.copy FROM docs')).toBe('vecshard.copy');
    expect(check('ALTER SCHEMA vecshard RENAME TO old')).toBe('schema vecshard');
  });

  it('lets reads and unrelated statements through', () => {
    expect(check('SELECT * FROM vecshard.placements')).toBeUndefined();
    expect(check('INSERT INTO docs SELECT 1 FROM vecshard.tables')).toBeUndefined();
    expect(check('COPY vecshard.placements TO STDOUT')).toBeUndefined();
    expect(check('DROP TABLE docs')).toBeUndefined();
    expect(check('DROP SCHEMA app')).toBeUndefined();
    expect(check('EXPLAIN SELECT * FROM vecshard.tables')).toBeUndefined();
  });
});
