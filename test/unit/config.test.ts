import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig, ConfigError, loadConfigFile, saveNodes } from '../../src/config.ts';

const bad = (raw: unknown) => {
  try {
    parseConfig(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('parseConfig', () => {
  it('defaults to three embedded nodes on 127.0.0.1:6432 with trust auth', () => {
    const c = parseConfig({});
    expect(c.server).toMatchObject({ host: '127.0.0.1', port: 6432, auth: { method: 'trust' } });
    expect(c.nodes).toHaveLength(3);
    expect(c.nodes.every((n) => n.kind === 'pglite')).toBe(true);
  });

  it('reads nodes as connection strings with pool sizes', () => {
    const c = parseConfig({ nodes: ['postgres://u:p%40ss@db1:5433', { url: 'postgresql://db2', poolSize: 7 }], pool: { size: 3 } });
    expect(c.nodes).toEqual([
      { kind: 'postgres', host: 'db1', port: 5433, user: 'u', password: 'p@ss', poolSize: 3, url: 'postgres://u:p%40ss@db1:5433' },
      { kind: 'postgres', host: 'db2', port: 5432, user: 'postgres', password: undefined, poolSize: 7, url: 'postgresql://db2' },
    ]);
  });

  it('writes nodes added and removed at run time back to the config file, keeping ids', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-config-'));
    const file = path.join(dir, 'vecshard.json');
    fs.writeFileSync(file, JSON.stringify({ nodes: ['postgres://a:1', { url: 'postgres://b:2', poolSize: 4 }], logLevel: 'warn' }));
    const c = loadConfigFile(file);
    c.nodes[1].removed = true;
    c.nodes.push({ kind: 'postgres', host: 'c', port: 3, user: 'postgres', poolSize: 20, url: 'postgres://c:3' });
    saveNodes(c, c.nodes);
    const again = loadConfigFile(file);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ nodes: ['postgres://a:1', { url: 'postgres://b:2', poolSize: 4, removed: true }, 'postgres://c:3'], logLevel: 'warn' });
    expect(again.nodes.map((n) => [n.kind === 'postgres' && n.host, !!n.removed])).toEqual([['a', false], ['b', true], ['c', false]]);
    fs.rmSync(dir, { recursive: true });
  });

  it('names the field and the problem', () => {
    expect(bad({ listen: { port: 70000 } })).toMatch(/listen\.port: Number must be less than or equal to 65535/);
    expect(bad({ nodes: ['mysql://x'] })).toMatch(/nodes\.0: must be a connection string like postgres:\/\//);
    expect(bad({ nodes: [] })).toMatch(/nodes: must name at least one node/);
    expect(bad({ auth: { method: 'scram-sha-256', users: {} } })).toMatch(/auth\.users: must name at least one user/);
    expect(bad({ auth: { method: 'ldap' } })).toMatch(/auth\.method: Invalid discriminator value/);
    // Beyond loopback with trust: refused unless asked for by name.
    expect(bad({ listen: { host: '0.0.0.0' } })).toMatch(/listen\.host: "0\.0\.0\.0" reaches beyond this machine and auth\.method is "trust"/);
    expect(parseConfig({ listen: { host: '0.0.0.0', allowTrust: true } }).server.host).toBe('0.0.0.0');
    expect(parseConfig({ listen: { host: '0.0.0.0' }, auth: { method: 'scram-sha-256', users: { app: 'pw' } } }).server.host).toBe('0.0.0.0');
    expect(bad({ pool: { size: 0 } })).toMatch(/pool\.size: Number must be greater than or equal to 1/);
    expect(bad({ lisen: {} })).toMatch(/Unrecognized key\(s\) in object: 'lisen'/);
    expect(bad({ tls: { certFile: '/nope/cert.pem', keyFile: '/nope/key.pem' } })).toMatch(/tls\.certFile: file \/nope\/cert\.pem does not exist/);
    expect(bad({ nodes: ['postgres://h:5432/somedb'] })).toMatch(/nodes\.0: leave the database out of the URL/);
  });

  it('never echoes passwords in its errors', () => {
    expect(bad({ nodes: ['postgres://u:supersecret@h:99999'] })).not.toContain('supersecret');
  });
});
