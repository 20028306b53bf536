// With a certificate configured, clients connect over TLS (SSLRequest answered 'S'), and plain connections are refused.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import pg from 'pg';
import { parse, serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { psql } from '../helpers/psql.ts';
import { within } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-tls-'));

beforeAll(async () => {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
  pgs = await startPgServers(1);
  c = await startTestCoordinator(pgs, { tls: { certFile: path.join(dir, 'cert.pem'), keyFile: path.join(dir, 'key.pem') } });
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('serves node-postgres over TLS', async () => {
  const client = new pg.Client({ ...c.options(), ssl: { rejectUnauthorized: false } });
  await client.connect();
  expect((await client.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
  await client.end();
});

it('serves psql with sslmode=require and reports the TLS session', async () => {
  const r = await psql(c.port, '\\conninfo\n', { database: 'sslmode=require dbname=postgres' });
  expect(r.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
});

it('refuses a client that will not use TLS', async () => {
  const client = new pg.Client({ ...c.options(), ssl: false });
  await expect(client.connect()).rejects.toThrow(/SSL connection is required/);
});

it('answers a Query sent over TLS in the same write as the startup packet (it was never answered)', async () => {
  const sock = net.connect(c.port, '127.0.0.1');
  sock.on('error', () => {});
  await within('connect', new Promise((r) => sock.once('connect', r)), 5000);
  sock.write(serialize.requestSsl());
  expect((await within('the SSL answer', new Promise<Buffer>((r) => sock.once('data', r)), 5000)).toString()).toBe('S');
  const t = tls.connect({ socket: sock, rejectUnauthorized: false });
  t.on('error', () => {});
  await within('the TLS handshake', new Promise((r) => t.once('secureConnect', r)), 5000);
  const got: Array<{ name: string; fields?: string[] }> = [];
  void parse(t, (m) => got.push(m as never));
  t.write(Buffer.concat([serialize.startup({ user: 'postgres', database: 'postgres' }), serialize.query('SELECT 41 + 1')]));
  const end = Date.now() + 5000;
  while (got.filter((m) => m.name === 'readyForQuery').length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  expect(got.find((m) => m.name === 'dataRow')?.fields).toEqual(['42']);
  t.end();
});
