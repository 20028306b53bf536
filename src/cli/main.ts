// The vecshard command.
import { Command } from 'commander';
import { loadConfigFile, parseConfig, ConfigError, type Config } from '../config.ts';
import { startCoordinator } from '../coordinator.ts';
import { quoteLiteral } from '../sql/quote.ts';
import { isWorker, reportListening, superviseWorkers, type Listening } from './workers.ts';
import os from 'node:os';

const program = new Command();
program.name('vecshard').description('One PostgreSQL endpoint in front of many PostgreSQL+pgvector nodes.');

function banner(config: Config, l: Listening, workers: number): string {
  const where = config.embeddedDir ? `${config.nodes.length} embedded nodes (PGlite + pgvector) in ${config.embeddedDir}` : `${config.nodes.length} PostgreSQL nodes`;
  return (
    `vecshard is listening on ${l.host}:${l.port} in front of ${where}${workers > 1 ? `, in ${workers} worker processes` : ''}.\n` +
    `Connect with:  psql -h ${l.host} -p ${l.port} -U postgres\n` +
    (l.httpPort !== undefined ? `Status page:   http://${config.http!.host}:${l.httpPort}/  (metrics at /metrics, health at /healthz)\n` : '') +
    `Stop with Ctrl-C.\n`
  );
}

async function run(config: Config, workers = 1): Promise<void> {
  // Embedded nodes live in this process: one process only.
  if (config.embeddedDir) workers = 1;
  if (workers > 1 && !isWorker()) return superviseWorkers(workers, (l) => banner(config, l, workers));
  const c = await startCoordinator(config);
  const l = { host: c.host, port: c.port, httpPort: c.httpPort };
  if (isWorker()) reportListening(l);
  else process.stdout.write(banner(config, l, 1));
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    if (!isWorker()) process.stdout.write('vecshard: stopping\n');
    await c.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A worker whose first process is gone (killed) stops too.
  if (isWorker()) process.on('disconnect', stop);
}

function fail(e: unknown): never {
  process.stderr.write(`vecshard: ${e instanceof ConfigError ? e.message : ((e as Error)?.stack ?? String(e))}\n`);
  process.exit(e instanceof ConfigError ? 2 : 1);
}

program
  .command('start')
  .description('Run the coordinator in front of the nodes named in a config file.')
  .requiredOption('-c, --config <file>', 'JSON config file (see docs/getting-started.md)')
  .option('-w, --workers <n>', 'coordinator processes sharing the port (default: the number of cores)', String(os.availableParallelism()))
  .addHelpText('after', '\nExamples:\n  vecshard start --config vecshard.config.json\n  vecshard start --config vecshard.config.json --workers 4')
  .action(async (opts: { config: string; workers: string }) => {
    try {
      const workers = Number(opts.workers);
      if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new ConfigError(`--workers must be a whole number from 1 to 256, not "${opts.workers}"`);
      await run(loadConfigFile(opts.config), workers);
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
    runWithProgress(opts, 'add-node', url ? `SELECT vecshard.add_node(${quoteLiteral(url)})` : 'SELECT vecshard.add_node()', [], (n) => `added node ${n}; run "vecshard rebalance" to move shards onto it`),
  );

withConnectOptions(program.command('remove-node').argument('<node_id>', 'the node to remove (see vecshard status)'))
  .description('Drain a node (its shard copies are rebuilt on the others), then remove it from the cluster.')
  .addHelpText('after', '\nExample:\n  vecshard remove-node 2 --port 6432')
  .action((id: string, opts: ConnectOptions) => runWithProgress(opts, 'remove-node', `SELECT vecshard.remove_node(${Number.isInteger(Number(id)) ? Number(id) : 'NULL'})`, [], (n) => `moved ${n} shard copies; node ${id} is removed`));

function duration(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** How often `vecshard import` prints a progress line when stderr is not a terminal. */
const PROGRESS_EVERY_MS = 5000;

withConnectOptions(program.command('import').argument('<file>', 'a .jsonl, .csv, .npy, .fvecs or .bvecs file'))
  .description('Load a file into a table with batched COPY, showing rows/s and ETA. Run it again after an interruption: it resumes without duplicating rows.')
  .requiredOption('-t, --table <table>', 'the table to load (distributed or not), e.g. docs or app.docs')
  .option('-f, --format <format>', 'jsonl, csv, npy, fvecs or bvecs (default: from the file name)')
  .option('-c, --columns <list>', 'jsonl/csv: the fields to load, comma-separated (default: all of the first row / the header)')
  .option('--id-column <name>', 'npy/fvecs/bvecs: the column that gets the row number', 'id')
  .option('--vector-column <name>', 'npy/fvecs/bvecs: the column that gets the vector', 'embedding')
  .option('--id-start <n>', 'npy/fvecs/bvecs: the id of the first row', '0')
  .option('-b, --batch <rows>', 'rows per COPY (each batch commits on its own)', '5000')
  .option('--restart', 'forget an earlier, interrupted import of this file and start from its first row')
  .addHelpText(
    'after',
    '\nExamples:\n' +
      '  vecshard import docs.jsonl --table docs                 # {"id": 1, "title": "...", "embedding": [0.1, ...]} per line\n' +
      '  vecshard import docs.csv --table docs --columns id,embedding\n' +
      '  vecshard import sift_base.fvecs --table sift --id-column id --vector-column v\n' +
      '  vecshard import vectors.npy --table items --id-start 1000000 --batch 20000\n' +
      'Progress is kept in vecshard_import.progress; an interrupted import picks up where it stopped.',
  )
  .action(async (file: string, opts: ConnectOptions & { table: string; format?: string; columns?: string; idColumn: string; vectorColumn: string; idStart: string; batch: string; restart?: boolean }) => {
    const { runImport } = await import('./import.ts');
    const { detectFormat, ImportError } = await import('./sources.ts');
    const tty = process.stderr.isTTY;
    let client;
    try {
      const format = (opts.format ?? detectFormat(file)) as ReturnType<typeof detectFormat>;
      if (!['jsonl', 'csv', 'npy', 'fvecs', 'bvecs'].includes(format)) throw new ImportError(`unknown format "${format}"; use jsonl, csv, npy, fvecs or bvecs`);
      const batch = Number(opts.batch);
      if (!Number.isInteger(batch) || batch < 1) throw new ImportError(`--batch must be a positive whole number, not "${opts.batch}"`);
      client = await connect(opts, 'import');
      // Without a TTY (a log file, CI) a line at the first batch, then one every few seconds, then the last one.
      let lastLine: number | undefined;
      let unprinted: string | undefined;
      const started = performance.now();
      const hold = Number(process.env.VECSHARD_IMPORT_HOLD_AFTER_BATCHES) || undefined;
      const r = await runImport(
        client,
        file,
        { table: opts.table, format, batch, idColumn: opts.idColumn, vectorColumn: opts.vectorColumn, idStart: Number(opts.idStart), columns: opts.columns?.split(',').map((c) => c.trim()), restart: !!opts.restart, holdAfterBatches: hold },
        (p) => {
          const width = 30;
          const filled = Math.round(width * Math.min(1, p.share));
          const text = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${p.rows}${p.total !== undefined ? '/' + p.total : ''} rows  ${Math.round(p.rowsPerSecond)} rows/s  ETA ${duration(p.etaSeconds)}`;
          if (tty) process.stderr.write(`\r${text}\x1b[K`);
          else if (lastLine === undefined || performance.now() - lastLine >= PROGRESS_EVERY_MS) {
            process.stderr.write(text + '\n');
            lastLine = performance.now();
            unprinted = undefined;
          } else unprinted = text;
        },
      );
      if (tty) process.stderr.write('\n');
      else if (unprinted) process.stderr.write(unprinted + '\n');
      if (r.alreadyDone) process.stdout.write(`${file} was already imported into ${opts.table} (${r.rows} rows); use --restart to import it again\n`);
      else process.stdout.write(`imported ${r.rows - r.resumedFrom} rows into ${opts.table}${r.resumedFrom ? ` (resumed after row ${r.resumedFrom}; ${r.rows} in all)` : ''} in ${duration((performance.now() - started) / 1000)}\n`);
    } catch (e) {
      if (tty) process.stderr.write('\n');
      const pgErr = e as { code?: string; message: string; hint?: string };
      process.stderr.write(`vecshard import: ${pgErr.message}${pgErr.code ? ` (SQLSTATE ${pgErr.code})` : ''}\n${pgErr.hint ? `hint: ${pgErr.hint}\n` : ''}`);
      if (!(e instanceof ImportError)) process.stderr.write('Nothing from the failed batch was kept; run the same command again to resume.\n');
      process.exitCode = 1;
    } finally {
      await client?.end().catch(() => {});
    }
  });

program
  .command('bench')
  .description('Run a benchmark scenario of the harness in bench/ (fresh PostgreSQL nodes; needs scripts/install-postgres.sh).')
  .argument('[scenario]', 'p1, p2, p3, p4 or p5')
  .argument('[options...]', 'options of the scenario, e.g. --glove or --smoke')
  .allowUnknownOption()
  .helpOption(false)
  .addHelpText(
    'after',
    '\nScenarios (each writes bench/results/*.json and, unless --smoke, a section of docs/benchmarks.md):\n' +
      '  p1   proxy overhead: pgbench -S through vecshard vs PgBouncer vs direct\n' +
      '  p2   sharded kNN vs one node: recall@10 and q/s over ef_search (--glove for GloVe-100)\n' +
      '  p3   ingest: COPY and HNSW build through vecshard vs one node\n' +
      '  p4   clustered routing vs hash, probes 1…S (GloVe-100)\n' +
      '  p5   coordinator cost per kNN query vs shard time; RSS with 32 clients\n' +
      'Examples:\n  vecshard bench p2 --glove\n  vecshard bench p1 --smoke',
  )
  .action(async (scenario: string | undefined, options: string[], _o: unknown, cmd: Command) => {
    if (scenario === '--help' || scenario === '-h') {
      cmd.outputHelp();
      return;
    }
    if (!scenario || !/^p[1-5]$/.test(scenario)) {
      if (scenario) process.stderr.write(`vecshard bench: unknown scenario "${scenario}"\n`);
      cmd.outputHelp({ error: true });
      process.exit(2);
    }
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', scenario, ...options], { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => process.exit(code ?? 1));
  });

await program.parseAsync();
