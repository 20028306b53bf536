// Every vecshard command explains itself with --help and at least one example; a wrong use says what to do.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { runTs } from '../helpers/wait.ts';

async function cli(...args: string[]): Promise<{ code: number; out: string }> {
  const r = await runTs('src/cli/main.ts', args, { timeoutMs: 60_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

const COMMANDS = ['start', 'dev', 'status', 'import', 'bench', 'repair', 'rebalance', 'add-node', 'remove-node'];

it('lists every command in the top-level help', async () => {
  const r = await cli('--help');
  for (const c of COMMANDS) expect(r.out).toContain(c);
});

it.each(COMMANDS)('%s --help shows usage and an example', async (command) => {
  const r = await cli(command, '--help');
  expect(r.code).toBe(0);
  expect(r.out).toMatch(new RegExp(`Usage: vecshard ${command}`));
  expect(r.out).toMatch(/Examples?:\n\s+vecshard /);
});

it('says what is wrong with a bad invocation', async () => {
  expect((await cli('bench', 'p9')).out).toMatch(/unknown scenario "p9"/);
  expect((await cli('import', 'x.jsonl')).out).toMatch(/required option '-t, --table <table>' not specified/);
  const r = await cli('start');
  expect(r.code).not.toBe(0);
  expect(r.out).toMatch(/required option '-c, --config <file>'/);
  for (const w of ['0', 'many', '2.5']) {
    const bad = await cli('start', '--config', 'none.json', '--workers', w);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain(`--workers must be a whole number from 1 to 256, not "${w}"`);
  }
});

it('start --workers stops, with the error, when its workers cannot start (the port is taken)', async () => {
  const taken = net.createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  const port = (taken.address() as net.AddressInfo).port;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'vecshard-workers-')), 'c.json');
  fs.writeFileSync(file, JSON.stringify({ listen: { host: '127.0.0.1', port }, http: null, nodes: ['postgres://postgres@127.0.0.1:1'], logLevel: 'fatal' }));
  try {
    const r = await cli('start', '--workers', '2', '--config', file);
    expect(r.code).toBe(1);
    expect(r.out).toContain('EADDRINUSE');
    expect(r.out).not.toContain('starting another');
  } finally {
    taken.close();
  }
});
