// Every vecshard command explains itself with --help and at least one example; a wrong use says what to do.
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
});
