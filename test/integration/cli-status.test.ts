// `vecshard status` against a running coordinator: nodes with health, tables, copies per node.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { run } from '../helpers/run.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs);
  const cl = new pg.Client(c.options());
  await cl.connect();
  await cl.query('CREATE TABLE s (id int PRIMARY KEY)');
  await cl.query(`SELECT create_distributed_table('s', 'id', shard_count => 4)`);
  await cl.end();
});
afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

it('prints nodes, tables and copies per node', async () => {
  const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', '--port', String(c.port)]);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/Nodes\n\s+node_id\s+kind\s+host\s+port\s+health/);
  expect(r.stdout).toMatch(/\n\s+0\s+postgres\s+127\.0\.0\.1\s+\d+\s+up/);
  expect(r.stdout).toMatch(/public\.s\s+hash\s+id\s+4/);
  expect(r.stdout).toMatch(/\n\s+1\s+4\s+0\s*\n/); // node 1: 4 active copies (4 shards × 2 copies over 2 nodes)
});

it('says what to do when vecshard is not running', async () => {
  const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'status', '--port', '1']);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/cannot connect to 127\.0\.0\.1:1.*\nIs vecshard running\? Start it with: npm start/s);
});
