// A protocol fuzzer (issue 17): fast-check sends well-formed and mutated frontend messages — whole batches, cut at
// random points, with lengths, types and bytes flipped — 10,000 messages and more per run. The server stays up,
// a healthy client answers after every batch of runs, no session is left behind, and memory returns to where it was.
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import pg from 'pg';
import { serialize } from 'pg-protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';
import { connected } from '../helpers/raw-client.ts';
import { sleep, waitFor, within } from '../helpers/wait.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
const SEED = Number(process.env.VECSHARD_FUZZ_SEED ?? Date.now() % 100000);

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { size: 30 } });
  const cl = new pg.Client(c.options());
  await cl.connect();
  await cl.query('CREATE TABLE f (id int PRIMARY KEY, t text, v vector(2))');
  await cl.query(`SELECT create_distributed_table('f', 'id', shard_count => 4)`);
  await cl.query(`INSERT INTO f SELECT i, 'row ' || i, ARRAY[i, -i]::vector FROM generate_series(1, 50) i`);
  await cl.query('CREATE TABLE plain (id int, t text)');
  await cl.end();
}, 120_000);

afterAll(async () => {
  await c?.close();
  pgs?.stopAll();
});

const SQL = [
  'SELECT 1',
  'SELECT * FROM f WHERE id = $1',
  "SELECT id FROM f ORDER BY v <-> '[1,1]' LIMIT 5",
  'SELECT count(*), sum(id) FROM f',
  'INSERT INTO plain VALUES ($1, $2)',
  'UPDATE f SET t = $2 WHERE id = $1',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SET vecshard.exact = on',
  'COPY plain FROM STDIN',
  'COPY f FROM STDIN',
  'COPY f TO STDOUT',
  'SELECT pg_sleep(0.01)',
  'SELECT * FROM plain',
  'DECLARE c CURSOR FOR SELECT * FROM f',
  'this is not sql',
  '',
];

const name = fc.constantFrom('', 's1', 's2', 'p', 'x'.repeat(60));
const text = fc.oneof(fc.constantFrom(...SQL), fc.string({ maxLength: 40 }));
const value = fc.oneof(fc.constant(null), fc.constantFrom('1', '2', 'abc', '[1,2]', '-1'), fc.string({ maxLength: 10 }));

const message = fc.oneof(
  text.map((t) => serialize.query(t)),
  fc.record({ name, text, types: fc.array(fc.constantFrom(0, 23, 25, 16), { maxLength: 3 }) }).map((m) => serialize.parse({ name: m.name, text: m.text, types: m.types })),
  fc.record({ portal: name, statement: name, values: fc.array(value, { maxLength: 3 }), binary: fc.boolean() }).map((b) =>
    serialize.bind({ portal: b.portal, statement: b.statement, values: b.values, valueMapper: undefined, binary: b.binary } as never),
  ),
  fc.record({ type: fc.constantFrom('S', 'P'), name }).map((d) => serialize.describe(d as { type: 'S' | 'P'; name: string })),
  fc.record({ portal: name, rows: fc.nat(3) }).map((e) => serialize.execute({ portal: e.portal, rows: e.rows })),
  fc.record({ type: fc.constantFrom('S', 'P'), name }).map((d) => serialize.close(d as { type: 'S' | 'P'; name: string })),
  fc.constant(serialize.sync()),
  fc.constant(serialize.flush()),
  fc.string({ maxLength: 30 }).map((s) => serialize.copyData(Buffer.from(`${s}\n`))),
  fc.constant(serialize.copyDone()),
  fc.string({ maxLength: 10 }).map((s) => serialize.copyFail(s)),
  // Bytes no client should send: unknown types, lengths that lie, junk.
  fc.uint8Array({ minLength: 1, maxLength: 24 }).map((b) => Buffer.from(b)),
  fc.record({ type: fc.integer({ min: 0, max: 255 }), len: fc.integer({ min: -5, max: 100 }) }).map(({ type, len }) => {
    const b = Buffer.alloc(5);
    b[0] = type;
    b.writeInt32BE(len, 1);
    return b;
  }),
);

/** A batch as a client sends it, then mutated: a byte flipped, or cut short, or as it is. */
const batch = fc.record({
  messages: fc.array(message, { minLength: 1, maxLength: 30 }),
  flip: fc.option(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { nil: undefined }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  chunks: fc.integer({ min: 1, max: 4 }),
});

let sent = 0;

async function fire(b: { messages: Buffer[]; flip?: { at: number; xor: number }; cut?: number; chunks: number }): Promise<void> {
  let bytes = Buffer.concat([...b.messages, serialize.sync()]);
  if (b.flip) bytes[b.flip.at % bytes.length] ^= b.flip.xor;
  if (b.cut !== undefined) bytes = bytes.subarray(0, b.cut % (bytes.length + 1));
  sent += b.messages.length + 1;
  const s = net.connect({ host: '127.0.0.1', port: c.port });
  s.on('error', () => {});
  s.on('data', () => {});
  await connected(s);
  s.write(serialize.startup({ user: 'postgres', database: 'postgres' }));
  const step = Math.ceil(bytes.length / b.chunks);
  for (let i = 0; i < bytes.length; i += step) s.write(bytes.subarray(i, i + step));
  // Long enough for the server to chew on it; then the client goes, as a careless one would.
  await sleep(5);
  s.destroy();
}

function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

it(`survives 10,000+ fuzzed frontend messages (seed ${SEED})`, async () => {
  const healthy = new pg.Client(c.options());
  await healthy.connect();
  const check = async () => expect((await within('a healthy query', healthy.query('SELECT count(*)::int AS n FROM f'), 10_000)).rows).toEqual([{ n: 50 }]);
  // Warm up, then take the baseline.
  await fc.assert(fc.asyncProperty(batch, async (b) => fire(b)), { seed: SEED + 1, numRuns: 30 });
  await waitFor('fuzz sessions to end', () => c.server.sessions === 1, { timeoutMs: 20_000 });
  const base = heapAfterGc();
  for (let round = 0; sent < 10_000; round++) {
    await fc.assert(fc.asyncProperty(batch, async (b) => fire(b)), { seed: SEED + round * 7919, numRuns: 50 });
    await check();
  }
  await waitFor('fuzz sessions to end', () => c.server.sessions === 1, { timeoutMs: 30_000 });
  await check();
  const grown = heapAfterGc() - base;
  console.log(`fuzz seed ${SEED}: ${sent} messages; heap ${(grown / 1048576).toFixed(1)} MB over the baseline`);
  expect(grown).toBeLessThan(40 * 1024 * 1024);
  await healthy.end();
}, 300_000);
