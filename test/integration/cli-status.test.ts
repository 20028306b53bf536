// `vecshard status` against a running coordinator: nodes with health, tables, copies per node.
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { run } from '../helpers/run.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
beforeAll(async () => {
  pgs = await startPgServers(3);
  c = await startTestCoordinator({ servers: pgs.servers.slice(0, 2) });
  const cl = new pg.Client(c.options());
  await cl.connect();
  await cl.query('CREATE TABLE s (id int PRIMARY KEY)');
  await cl.query(`SELECT create_distributed_table('s', 'id', shard_count => 4)`);
  await cl.query(`INSERT INTO s SELECT * FROM (VALUES ${Array.from({ length: 300 }, (_, i) => `(${i})`).join(', ')}) v`).catch(async () => {
    await cl.query(`INSERT INTO s VALUES ${Array.from({ length: 300 }, (_, i) => `(${i})`).join(', ')}`);
  });
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

it('adds a node and rebalances with a progress bar, then shows the copies it made', async () => {
  const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--port', String(c.port)]);
  const added = await cli('add-node', pgs.servers[2].url);
  expect(added.stderr).toBe('');
  expect(added.stdout).toMatch(/added node 2; run "vecshard rebalance"/);
  const moved = await cli('rebalance');
  expect(moved.code).toBe(0);
  const n = Number(/moved (\d+) shard copies/.exec(moved.stdout)?.[1]);
  expect(n).toBeGreaterThan(0);
  expect(moved.stderr).toMatch(new RegExp(`\\[#{30}\\] ${n} copies done`));
  const status = await cli('status');
  expect(status.stdout).toMatch(/Recent shard copies\n\s+task_id\s+kind\s+shard\s+from\s+to\s+rows\s+state/);
  expect(status.stdout).toMatch(/move\s+s_\d{4}\s+\d\s+2\s+(\d+)\/\1\s+done/);
  const bad = await cli('remove-node', '7');
  expect(bad.code).toBe(1);
  expect(bad.stderr).toMatch(/vecshard remove-node: vecshard.remove_node: there is no node 7/);
});
