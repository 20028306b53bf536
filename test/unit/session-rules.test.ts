import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../../src/sql/parse.ts';
import { classify } from '../../src/sql/classify.ts';
import { planQuery } from '../../src/planner/plan.ts';
import { startupSettings, settingsKey } from '../../src/executor/settings.ts';

beforeAll(() => loadParser());

describe('classify', () => {
  it('spots statements that change or pin session state', () => {
    expect(classify("SET work_mem = '8MB'")).toMatchObject({ changesSettings: true, pins: false });
    expect(classify('SET LOCAL work_mem = 1')).toMatchObject({ changesSettings: false });
    expect(classify('RESET ALL')).toMatchObject({ changesSettings: true });
    expect(classify("SELECT set_config('a.b', 'c', false)")).toMatchObject({ changesSettings: true });
    expect(classify('CREATE TEMP TABLE t (a int)')).toMatchObject({ pins: true });
    expect(classify('CREATE TABLE t (a int)')).toMatchObject({ pins: false });
    expect(classify('LISTEN x')).toMatchObject({ pins: true });
    expect(classify('PREPARE p AS SELECT 1')).toMatchObject({ pins: true });
    expect(classify('DECLARE c CURSOR WITH HOLD FOR SELECT 1')).toMatchObject({ pins: true });
    expect(classify('DECLARE c CURSOR FOR SELECT 1')).toMatchObject({ pins: false });
    expect(classify('SELECT pg_advisory_lock(1)')).toMatchObject({ pins: true });
  });

  it('leaves syntax errors to the node', () => {
    expect(classify('SELEC 1')).toMatchObject({ unparsed: true, statements: [{ kind: 'other' }] });
  });
});

describe('planQuery', () => {
  it('sends CREATE/DROP DATABASE to every node, alone and outside transactions', () => {
    expect(planQuery(classify('CREATE DATABASE a'), false)).toMatchObject({ kind: 'createdb', name: 'a' });
    expect(planQuery(classify('DROP DATABASE IF EXISTS a'), false)).toMatchObject({ kind: 'dropdb', name: 'a', ifExists: true });
    expect(planQuery(classify('CREATE DATABASE a'), true)).toMatchObject({ kind: 'error', error: { code: '25001' } });
    expect(planQuery(classify('SELECT 1; CREATE DATABASE a'), false)).toMatchObject({ kind: 'error', error: { code: '25001' } });
  });

  it('relays COPY FROM STDIN only as the sole statement', () => {
    expect(planQuery(classify('COPY t FROM STDIN'), false)).toEqual({ kind: 'copy-in' });
    expect(planQuery(classify('COPY t TO STDOUT'), false)).toEqual({ kind: 'passthrough' });
    expect(planQuery(classify('BEGIN; COPY t FROM STDIN'), false)).toMatchObject({ kind: 'error', error: { code: '0A000' } });
  });
});

describe('startupSettings', () => {
  it('keeps settings, drops user and database, and reads -c options', () => {
    const s = startupSettings({ user: 'u', database: 'd', application_name: 'app', options: '-c search_path=a\\,b --work-mem=8MB' });
    expect([...s]).toEqual([
      ['application_name', 'app'],
      ['search_path', 'a,b'],
      ['work_mem', '8MB'],
    ]);
    expect(settingsKey(s)).toBe(settingsKey(new Map([...s].reverse())));
  });
});
