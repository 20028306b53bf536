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

await program.parseAsync();
