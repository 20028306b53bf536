// The vecshard command.
import { Command } from 'commander';
import { loadConfigFile, parseConfig, ConfigError, type Config } from '../config.ts';
import { startCoordinator } from '../coordinator.ts';

const program = new Command();
program.name('vecshard').description('One PostgreSQL endpoint in front of many PostgreSQL+pgvector nodes.');

async function run(config: Config): Promise<void> {
  const c = await startCoordinator(config);
  const where = config.embeddedDir ? `${config.nodes.length} embedded nodes (PGlite + pgvector) in ${config.embeddedDir}` : `${config.nodes.length} PostgreSQL nodes`;
  process.stdout.write(
    `vecshard is listening on ${c.host}:${c.port} in front of ${where}.\n` +
      `Connect with:  psql -h ${c.host} -p ${c.port} -U postgres\n` +
      (c.httpPort !== undefined ? `Status page:   http://${config.http!.host}:${c.httpPort}/  (metrics at /metrics, health at /healthz)\n` : '') +
      `Stop with Ctrl-C.\n`,
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('vecshard: stopping\n');
    await c.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

function fail(e: unknown): never {
  process.stderr.write(`vecshard: ${e instanceof ConfigError ? e.message : ((e as Error)?.stack ?? String(e))}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}

program
  .command('start')
  .description('Run the coordinator in front of the nodes named in a config file.')
  .requiredOption('-c, --config <file>', 'JSON config file (see docs/getting-started.md)')
  .addHelpText('after', '\nExample:\n  vecshard start --config vecshard.config.json')
  .action(async (opts: { config: string }) => {
    try {
      await run(loadConfigFile(opts.config));
    } catch (e) {
      fail(e);
    }
  });

program
  .command('dev')
  .description('Run the coordinator with embedded PGlite nodes; nothing else to install.')
  .option('-d, --data-dir <dir>', 'where the embedded nodes keep their data', './.vecshard')
  .option('-n, --nodes <n>', 'number of embedded nodes', '3')
  .option('-p, --port <port>', 'port to listen on', '6432')
  .option('-H, --host <host>', 'address to listen on', '127.0.0.1')
  .option('--http-port <port>', 'port for the status page, /metrics and /healthz ("off" for none)', '6480')
  .option('--slow-query-ms <ms>', 'log statements slower than this, with their plan', '1000')
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
  .addHelpText('after', '\nExamples:\n  vecshard dev\n  vecshard dev --port 7432 --nodes 2 --data-dir /tmp/vs\n  vecshard dev --http-port off --slow-query-ms 50')
  .action(async (opts: { dataDir: string; nodes: string; port: string; host: string; logLevel: string; httpPort: string; slowQueryMs: string }) => {
    try {
      await run(
        parseConfig({
          listen: { host: opts.host, port: Number(opts.port) },
          http: opts.httpPort === 'off' ? null : { host: opts.host, port: Number(opts.httpPort) },
          slowQueryMs: Number(opts.slowQueryMs),
          embedded: { dataDir: opts.dataDir, nodes: Number(opts.nodes) },
          logLevel: opts.logLevel,
        }),
      );
    } catch (e) {
      fail(e);
    }
  });

interface ConnectOptions {
  host: string;
  port: string;
  user: string;
  database: string;
}

const withConnectOptions = (cmd: Command) =>
  cmd
    .option('-H, --host <host>', 'coordinator address', '127.0.0.1')
    .option('-p, --port <port>', 'coordinator port', '6432')
    .option('-U, --user <user>', 'user', 'postgres')
    .option('-d, --database <db>', 'database', 'postgres');

async function connect(opts: ConnectOptions, command: string) {
  const { default: pg } = await import('pg');
  const client = new pg.Client({ host: opts.host, port: Number(opts.port), user: opts.user, database: opts.database, password: process.env.PGPASSWORD });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (e) {
    process.stderr.write(`vecshard ${command}: cannot connect to ${opts.host}:${opts.port}: ${(e as Error).message}\nIs vecshard running? Start it with: npm start\n`);
    process.exit(1);
  }
  return client;
}

withConnectOptions(program.command('status'))
  .description('Show the nodes (with health), the distributed tables, where their shard copies are, and recent copy tasks.')
  .addHelpText('after', '\nExample:\n  vecshard status --port 6432 --database app\nThe password comes from PGPASSWORD, as with psql.')
  .action(async (opts: ConnectOptions) => {
    const client = await connect(opts, 'status');
    const print = (title: string, rows: Array<Record<string, unknown>>) => {
      process.stdout.write(`\n${title}\n`);
      if (!rows.length) return void process.stdout.write('  (none)\n');
      const cols = Object.keys(rows[0]);
      const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
      const line = (vals: string[]) => '  ' + vals.map((v, i) => v.padEnd(width[i])).join('  ') + '\n';
      process.stdout.write(line(cols) + line(width.map((w) => '-'.repeat(w))));
      for (const r of rows) process.stdout.write(line(cols.map((c) => String(r[c] ?? ''))));
    };
    print('Nodes', (await client.query('SELECT node_id, kind, host, port, health FROM vecshard.nodes ORDER BY node_id')).rows);
    const hasCatalog = (await client.query(`SELECT to_regclass('vecshard.tables') IS NOT NULL AS ok`)).rows[0].ok;
    if (hasCatalog) {
      print('Distributed tables', (await client.query(`SELECT schema_name || '.' || table_name AS "table", method, dist_column AS "distributed by", shard_count AS shards FROM vecshard.tables ORDER BY 1`)).rows);
      print(
        'Shard copies per node',
        (await client.query(`SELECT node_id, count(*) FILTER (WHERE state = 'active') AS active, count(*) FILTER (WHERE state = 'inactive') AS inactive FROM vecshard.placements GROUP BY 1 ORDER BY 1`)).rows,
      );
    } else process.stdout.write('\nNo distributed tables in this database yet.\n');
    const tasks = (await client.query(`SELECT task_id, kind, shard, source_node AS "from", target_node AS "to", rows_done || '/' || rows_total AS rows, state FROM vecshard.tasks ORDER BY task_id DESC LIMIT 10`)).rows;
    if (tasks.length) print('Recent shard copies', tasks);
    await client.end();
  });

/** Runs an admin function while a second connection watches vecshard.tasks and draws a progress bar on stderr. */
async function runWithProgress(opts: ConnectOptions, command: string, sql: string, params: unknown[], describe: (result: number) => string): Promise<void> {
  const work = await connect(opts, command);
  const watch = await connect(opts, command);
  const since = Number((await watch.query('SELECT coalesce(max(task_id), 0) AS m FROM vecshard.tasks')).rows[0].m);
  const tty = process.stderr.isTTY;
  let last = '';
  const draw = async () => {
    const rows = (await watch.query(`SELECT shard, state, rows_done::float8 AS done, rows_total::float8 AS total FROM vecshard.tasks WHERE task_id > ${since} ORDER BY task_id`)).rows;
    if (!rows.length) return;
    const finished = rows.filter((r) => r.state !== 'running').length;
    const current = rows.find((r) => r.state === 'running');
    const share = current && current.total > 0 ? current.done / current.total : 0;
    const width = 30;
    const filled = Math.round(width * (current ? share : 1));
    const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
    const text = current ? `${bar} copy ${finished + 1}: ${current.shard} ${current.done}/${current.total} rows (${finished} done)` : `${bar} ${finished} copies done`;
    if (tty) process.stderr.write(`\r${text.padEnd(last.length)}`);
    else if (text !== last && !current) process.stderr.write(text + '\n');
    last = text;
  };
  const timer = setInterval(() => void draw().catch(() => {}), 200);
  try {
    const r = await work.query(sql, params);
    clearInterval(timer);
    await draw().catch(() => {});
    if (tty && last) process.stderr.write('\n');
    process.stdout.write(describe(Number(Object.values(r.rows[0])[0])) + '\n');
  } catch (e) {
    clearInterval(timer);
    if (tty && last) process.stderr.write('\n');
    process.stderr.write(`vecshard ${command}: ${(e as Error).message}\n`);
    process.exitCode = 1;
  } finally {
    await work.end().catch(() => {});
    await watch.end().catch(() => {});
  }
}

withConnectOptions(program.command('repair'))
  .description('Rebuild inactive shard copies on nodes that are up, with a progress bar.')
  .addHelpText('after', '\nExample:\n  vecshard repair --port 6432 --database app')
  .action((opts: ConnectOptions) => runWithProgress(opts, 'repair', 'SELECT vecshard.repair()', [], (n) => `repaired ${n} shard copies`));

withConnectOptions(program.command('rebalance'))
  .description('Move shard copies until every node holds the same number (give or take one), online.')
  .addHelpText('after', '\nExample:\n  vecshard rebalance --port 6432 --database app')
  .action((opts: ConnectOptions) => runWithProgress(opts, 'rebalance', 'SELECT vecshard.rebalance()', [], (n) => `moved ${n} shard copies`));

withConnectOptions(program.command('add-node').argument('[url]', 'the new node, postgres://user:password@host:port (none for an embedded node)'))
  .description('Add a node: it gets every database, the catalog and the table shells. Run rebalance next to give it shards.')
  .addHelpText('after', '\nExamples:\n  vecshard add-node postgres://postgres:secret@10.0.0.4:5432\n  vecshard add-node            # one more embedded node (vecshard dev)')
  .action((url: string | undefined, opts: ConnectOptions) =>
    // Literals, not parameters: vecshard's admin functions run in the simple query protocol.
    runWithProgress(opts, 'add-node', url ? `SELECT vecshard.add_node('${url.replace(/'/g, "''")}')` : 'SELECT vecshard.add_node()', [], (n) => `added node ${n}; run "vecshard rebalance" to move shards onto it`),
  );

withConnectOptions(program.command('remove-node').argument('<node_id>', 'the node to remove (see vecshard status)'))
  .description('Drain a node (its shard copies are rebuilt on the others), then remove it from the cluster.')
  .addHelpText('after', '\nExample:\n  vecshard remove-node 2 --port 6432')
  .action((id: string, opts: ConnectOptions) => runWithProgress(opts, 'remove-node', `SELECT vecshard.remove_node(${Number.isInteger(Number(id)) ? Number(id) : 'NULL'})`, [], (n) => `moved ${n} shard copies; node ${id} is removed`));

await program.parseAsync();
