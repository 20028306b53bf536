// pgbench -i, then a read-only prepared run through vecshard, with the same run straight at the node for a figure.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { run } from '../helpers/run.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;

beforeAll(async () => {
  pgs = await startPgServers(1);
  c = await startTestCoordinator(pgs, { pool: { size: 10 } });
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

const tps = (out: string) => Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);

it('pgbench -i then -S -M prepared -T 10 -c 8 completes with no errors', async () => {
  const env = { PGPASSWORD: pgs.servers[0].password };
  const conn = ['-h', '127.0.0.1', '-U', 'postgres'];
  const init = await run('pgbench', ['-i', '-s', '1', ...conn, '-p', String(c.port), 'postgres'], env);
  expect(init.stderr).toContain('done in');
  expect(init.code).toBe(0);
  const through = await run('pgbench', ['-S', '-M', 'prepared', '-T', '10', '-c', '8', ...conn, '-p', String(c.port), 'postgres'], env);
  expect(through.code).toBe(0);
  expect(through.stdout).toMatch(/number of failed transactions: 0 /);
  expect(tps(through.stdout)).toBeGreaterThan(0);
  const direct = await run('pgbench', ['-S', '-M', 'prepared', '-T', '10', '-c', '8', ...conn, '-p', String(pgs.servers[0].port), 'postgres'], env);
  // A figure for the record, not an assertion: timing belongs in bench/.
  console.log(`pgbench -S -M prepared -T 10 -c 8: vecshard ${tps(through.stdout).toFixed(0)} tps, direct ${tps(direct.stdout).toFixed(0)} tps`);
});
