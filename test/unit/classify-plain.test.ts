import { describe, expect, it } from 'vitest';
import { classifyPlain, mayName } from '../../src/sql/classify.ts';

describe('classifyPlain', () => {
  it('recognises a plain statement without parsing it', () => {
    for (const sql of ['SELECT abalance FROM pgbench_accounts WHERE aid = 42;', 'insert into t values (1)', ' UPDATE t SET x = 1 WHERE id = 2', 'DELETE FROM t']) {
      expect(classifyPlain(sql)).toMatchObject({ pins: false, changesSettings: false, unparsed: false, allNodes: false });
    }
  });

  it('leaves everything that may matter to vecshard to the parser', () => {
    for (const sql of [
      "SELECT set_config('hnsw.ef_search', '100', false)",
      'SELECT pg_advisory_lock(1)',
      'SELECT * INTO TEMP t2 FROM t',
      "SELECT create_distributed_table('t', 'id')",
      'SELECT * FROM vecshard.nodes',
      'SELECT 1; SELECT 2',
      'COPY t FROM STDIN',
      'CREATE TABLE t (id int)',
      'BEGIN',
      'SET x = 1',
    ]) {
      expect(classifyPlain(sql), sql).toBeUndefined();
    }
  });
});

describe('mayName', () => {
  it('matches a table name as a whole word, in any case, quoted or qualified', () => {
    const catalog = {};
    const names = () => ['docs', 'items'];
    expect(mayName('SELECT * FROM docs WHERE id = 1', catalog, names)).toBe(true);
    expect(mayName('select * from APP.Docs', catalog, names)).toBe(true);
    expect(mayName('SELECT * FROM "items"', catalog, names)).toBe(true);
    expect(mayName('SELECT * FROM documents', catalog, names)).toBe(false);
    expect(mayName('SELECT my_docs FROM pgbench_accounts', catalog, names)).toBe(false);
    expect(mayName('SELECT 1', {}, () => [])).toBe(false);
  });
});
