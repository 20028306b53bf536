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
  .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent', 'info')
  .addHelpText('after', '\nExamples:\n  vecshard dev\n  vecshard dev --port 7432 --nodes 2 --data-dir /tmp/vs')
  .action(async (opts: { dataDir: string; nodes: string; port: string; host: string; logLevel: string }) => {
    try {
      await run(
        parseConfig({
          listen: { host: opts.host, port: Number(opts.port) },
          embedded: { dataDir: opts.dataDir, nodes: Number(opts.nodes) },
          logLevel: opts.logLevel,
        }),
      );
    } catch (e) {
      fail(e);
    }
  });

program
  .command('status')
  .description('Show the nodes (with health), the distributed tables and where their shard copies are.')
  .option('-H, --host <host>', 'coordinator address', '127.0.0.1')
  .option('-p, --port <port>', 'coordinator port', '6432')
  .option('-U, --user <user>', 'user', 'postgres')
  .option('-d, --database <db>', 'database', 'postgres')
  .addHelpText('after', '\nExample:\n  vecshard status --port 6432 --database app\nThe password comes from PGPASSWORD, as with psql.')
  .action(async (opts: { host: string; port: string; user: string; database: string }) => {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ host: opts.host, port: Number(opts.port), user: opts.user, database: opts.database, password: process.env.PGPASSWORD });
    try {
      await client.connect();
    } catch (e) {
      process.stderr.write(`vecshard status: cannot connect to ${opts.host}:${opts.port}: ${(e as Error).message}\nIs vecshard running? Start it with: npm start\n`);
      process.exit(1);
    }
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
    await client.end();
  });

await program.parseAsync();
