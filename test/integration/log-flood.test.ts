// Malformed startups and wrong cancel keys are a client's problem, not the operator's: they once printed a stack
// trace each, so anyone able to connect could flood the log (issue 17, finding 8). Now they are counted and
// summed up in one line now and then, at most.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { freePort } from '../helpers/pg-nodes.ts';
import { connected } from '../helpers/raw-client.ts';
import { sleep, startCli, waitForExit, type Watched } from '../helpers/wait.ts';

let dir: string;
let port: number;
let w: Watched;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-flood-'));
  port = await freePort();
  const config = path.join(dir, 'vecshard.json');
  fs.writeFileSync(config, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, embedded: { dataDir: path.join(dir, 'data'), nodes: 1 } }));
  w = await startCli(['start', '--workers', '1', '--config', config]);
}, 90_000);

afterAll(async () => {
  w?.child.kill('SIGTERM');
  if (w) await waitForExit(w).catch(() => w.child.kill('SIGKILL'));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function send(bytes: Buffer, thenWaitMs = 0): Promise<void> {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await connected(s);
  s.write(bytes);
  if (thenWaitMs) await sleep(thenWaitMs);
  s.destroy();
}

function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

it('300 malformed startups and wrong cancel keys write at most a few log lines, and no stack trace', async () => {
  const before = w.stdout.length + w.stderr.length;
  const sends: Array<Promise<void>> = [];
  for (let i = 0; i < 100; i++) {
    // A packet of the right length with an unknown protocol version; then one too short; then a cancel request with
    // a key nobody has; then junk.
    sends.push(send(Buffer.concat([int32(16), int32(0x00020000 + i), Buffer.from('user\0x\0\0\0')]).subarray(0, 16), 30));
    sends.push(send(Buffer.concat([int32(8), int32(1234 * 65536 + 5678 + 100)])));
    sends.push(send(Buffer.concat([int32(16), int32(80877102), int32(i + 1), int32(i * 7)])));
    if (i % 10 === 0) await Promise.all(sends.splice(0));
  }
  await Promise.all(sends);
  await sleep(500);
  const out = (w.stdout + w.stderr).slice(before);
  const lines = out.split('\n').filter((l) => l.trim());
  expect(lines.length, out.slice(0, 2000)).toBeLessThanOrEqual(5);
  expect(out).not.toMatch(/\n\s+at /);
  // Everyone else goes on.
  const cl = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await cl.connect();
  expect((await cl.query('SELECT 1 AS x')).rows).toEqual([{ x: 1 }]);
  await cl.end();
});

it('a startup packet of another protocol version gets the error Postgres sends', async () => {
  const s = net.connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  await connected(s);
  const chunks: Buffer[] = [];
  s.on('data', (b) => chunks.push(b));
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  s.write(Buffer.concat([int32(16), int32(0x00020000), Buffer.from('user\0x\0\0')]));
  await Promise.race([closed, sleep(5000)]);
  const reply = Buffer.concat(chunks).toString('latin1');
  expect(reply[0]).toBe('E');
  expect(reply).toContain('C0A000\0');
  expect(reply).toContain('unsupported frontend protocol 2.0: server supports 3.0 to 3.0');
});
