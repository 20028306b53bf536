// COPY in binary format (pgx's CopyFrom, psycopg's binary copy): the same bytes into a distributed table and into a
// plain one give the same rows, however the client cuts them into messages; out again, the whole table reads back.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { startTestCoordinator, type TestCoordinator } from '../helpers/coordinator.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let c: TestCoordinator;
let db: pg.Client;

type Row = { id: bigint; tag: string | null; embedding: number[] };
const HEADER = Buffer.from('PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0', 'latin1');

function field(b: Buffer | null): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32BE(b ? b.length : -1);
  return b ? Buffer.concat([len, b]) : len;
}
const int8 = (v: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
};
const vector = (v: number[]) => {
  const b = Buffer.alloc(4 + 4 * v.length);
  b.writeUInt16BE(v.length);
  v.forEach((x, i) => b.writeFloatBE(x, 4 + 4 * i));
  return b;
};
function tuple(fields: Array<Buffer | null>): Buffer {
  const n = Buffer.alloc(2);
  n.writeInt16BE(fields.length);
  return Buffer.concat([n, ...fields.map(field)]);
}
const encode = (rows: Row[], trailer = true) => Buffer.concat([HEADER, ...rows.map((r) => tuple([int8(r.id), r.tag === null ? null : Buffer.from(r.tag), vector(r.embedding)])), ...(trailer ? [Buffer.from([0xff, 0xff])] : [])]);

/** The bytes cut at the given points, each piece its own CopyData message. */
const pieces = (data: Buffer, cuts: number[]) => {
  const at = [...new Set(cuts.map((x) => Math.floor(x * data.length)))].sort((a, b) => a - b);
  return [0, ...at].map((s, i) => data.subarray(s, at[i] ?? data.length)).filter((p) => p.length);
};
const copy = (sql: string, parts: Buffer[], client = db) => pipeline(Readable.from(parts), client.query(copyFrom(sql)));
const rowsOf = async (table: string) => (await db.query(`SELECT id::text, tag, embedding::text FROM ${table} ORDER BY id`)).rows;

beforeAll(async () => {
  pgs = await startPgServers(2);
  c = await startTestCoordinator(pgs, { pool: { size: 20 } });
  db = new pg.Client(c.options());
  await db.connect();
  for (const t of ['items', 'plain', 'nearby', 'ref']) await db.query(`CREATE TABLE ${t} (id bigint NOT NULL, tag text, embedding vector(3))`);
  await db.query("SELECT create_distributed_table('items', 'id', shard_count => 4, replication_factor => 2)");
  await db.query('INSERT INTO nearby SELECT g, NULL, ARRAY[g % 5, g % 3, 1]::real[]::vector FROM generate_series(1, 50) g');
  await db.query("SELECT create_distributed_table('nearby', 'embedding', distribution => 'clustered', shard_count => 3)");
  await db.query("SELECT create_reference_table('ref')");
}, 120_000);
afterAll(async () => {
  await db?.end();
  await c?.close();
  pgs?.stopAll();
});

const row = fc.record({
  id: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  tag: fc.option(fc.string({ unit: 'grapheme', maxLength: 12 }), { nil: null }),
  embedding: fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), { minLength: 3, maxLength: 3 }),
});

it('puts the same rows in a distributed table as the same bytes put in a plain one, however they are cut', async () => {
  await fc.assert(
    fc.asyncProperty(fc.uniqueArray(row, { selector: (r) => r.id, maxLength: 60 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }), fc.boolean(), async (rows, cuts, trailer) => {
      const data = encode(rows, trailer);
      for (const t of ['items', 'plain', 'nearby', 'ref']) {
        await db.query(`TRUNCATE ${t}`);
        await copy(`COPY ${t} (id, tag, embedding) FROM STDIN WITH (FORMAT binary)`, pieces(data, cuts));
      }
      const truth = await rowsOf('plain');
      expect(truth).toHaveLength(rows.length);
      for (const t of ['items', 'nearby', 'ref']) expect(await rowsOf(t)).toEqual(truth);
      // Each row is where a lookup by its key looks for it.
      for (const r of rows.slice(0, 3)) expect((await db.query('SELECT tag FROM items WHERE id = $1', [r.id.toString()])).rows).toEqual([{ tag: r.tag }]);
    }),
    { numRuns: 15 },
  );
});

it('fills a sequence the client leaves out, and routes by it', async () => {
  await db.query('CREATE TABLE serial_items (id bigserial, embedding vector(3))');
  await db.query("SELECT create_distributed_table('serial_items', 'id', shard_count => 4)");
  const data = Buffer.concat([HEADER, ...Array.from({ length: 500 }, (_, i) => tuple([vector([i, 1, 2])]))]);
  await copy('COPY serial_items (embedding) FROM STDIN (FORMAT binary)', pieces(data, [0.3, 0.31, 0.7]));
  expect((await db.query('SELECT count(DISTINCT id)::int AS n, min(id)::int AS lo, max(id)::int AS hi FROM serial_items')).rows).toEqual([{ n: 500, lo: 1, hi: 500 }]);
  for (const id of [1, 250, 500]) expect((await db.query('SELECT embedding::text AS e FROM serial_items WHERE id = $1', [id])).rows).toEqual([{ e: `[${id - 1},1,2]` }]);
});

it('fills a uuid distribution column from its default, and routes by it', async () => {
  await db.query('CREATE TABLE uuid_items (id uuid DEFAULT gen_random_uuid(), n int)');
  await db.query("SELECT create_distributed_table('uuid_items', 'id', shard_count => 4)");
  const int4 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    return b;
  };
  await copy('COPY uuid_items (n) FROM STDIN (FORMAT binary)', [Buffer.concat([HEADER, ...Array.from({ length: 40 }, (_, i) => tuple([int4(i)]))])]);
  const rows = (await db.query('SELECT id::text, n FROM uuid_items')).rows;
  expect(rows.map((r) => r.n).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  for (const r of rows.slice(0, 5)) expect((await db.query('SELECT n FROM uuid_items WHERE id = $1', [r.id])).rows).toEqual([{ n: r.n }]);
});

it('reads a distributed table out in binary as one stream, which a plain table takes back whole', async () => {
  await db.query('TRUNCATE items, plain');
  const rows = Array.from({ length: 300 }, (_, i) => ({ id: BigInt(i * 7919 - 1000), tag: i % 4 ? `tag ${i}` : null, embedding: [i, -i, 0.5] }));
  await copy('COPY items FROM STDIN WITH (FORMAT binary)', [encode(rows)]);
  const out: Buffer[] = [];
  await pipeline(db.query(copyTo('COPY items TO STDOUT WITH (FORMAT binary)')), async function* (src) {
    for await (const b of src) out.push(b as Buffer);
  });
  const data = Buffer.concat(out);
  expect(data.subarray(0, HEADER.length)).toEqual(HEADER);
  expect(data.indexOf('PGCOPY', 1)).toBe(-1); // one header, not one per shard
  expect(data.readInt16BE(data.length - 2)).toBe(-1);
  await copy('COPY plain FROM STDIN WITH (FORMAT binary)', [data]);
  expect(await rowsOf('plain')).toEqual(await rowsOf('items'));
  expect(await rowsOf('plain')).toHaveLength(300);
});

it('refuses bad binary input as Postgres does, and keeps nothing of it', async () => {
  await db.query('TRUNCATE items');
  const good = encode([{ id: 1n, tag: 'a', embedding: [1, 2, 3] }]);
  const open = good.subarray(0, good.length - 2); // the header and a good row, no end marker yet
  const bad: Array<[string, Buffer[], string, RegExp]> = [
    ['no signature', [Buffer.from('not a binary copy at all')], '22P04', /signature not recognized/],
    ['nothing sent', [], '22P04', /signature not recognized/],
    ['OIDs', [Buffer.concat([HEADER.subarray(0, 11), Buffer.from([0, 1, 0, 0, 0, 0, 0, 0])])], '22P04', /WITH OIDS/],
    ['too few fields', [open, tuple([int8(2n), null])], '22P04', /row field count is 2, expected 3/],
    ['a tuple cut short', [good.subarray(0, good.length - 5)], '22P04', /unexpected EOF/],
    ['data after the end', [good, Buffer.from([0, 3])], '22P04', /after EOF marker/],
    ['a NULL key', [open, tuple([null, null, vector([1, 2, 3])])], '23502', /distribution column "id"/],
    ['a 4-byte bigint', [open, tuple([Buffer.alloc(4), null, vector([1, 2, 3])])], '22P03', /incorrect binary data format/],
    ['a wrong vector', [open, tuple([int8(3n), null, vector([1, 2])])], '22000', /dimensions/],
  ];
  for (const [what, parts, code, message] of bad) {
    await expect(copy('COPY items FROM STDIN WITH (FORMAT binary)', parts), what).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
    expect((await db.query('SELECT count(*)::int AS n FROM items')).rows[0].n, what).toBe(0);
  }
  await expect(db.query('COPY items FROM STDIN WITH (FORMAT binary, HEADER)')).rejects.toMatchObject({ code: '42601', message: 'cannot specify HEADER in BINARY mode' });
  await expect(db.query("COPY items FROM STDIN WITH (FORMAT 'parquet')")).rejects.toMatchObject({ code: '22023', message: 'COPY format "parquet" not recognized' });
  expect((await db.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
});

it('inside a transaction block, commits and rolls back with it', async () => {
  await db.query('TRUNCATE items');
  await db.query('BEGIN');
  await copy('COPY items FROM STDIN WITH (FORMAT binary)', [encode([{ id: 5n, tag: 'x', embedding: [0, 0, 1] }, { id: 6n, tag: 'y', embedding: [0, 1, 0] }])]);
  expect((await db.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(2);
  await db.query('ROLLBACK');
  expect((await db.query('SELECT count(*)::int AS n FROM items')).rows[0].n).toBe(0);
});

it('reads a table out in text with the client\'s delimiter and NULL', async () => {
  await db.query('TRUNCATE items');
  await db.query("INSERT INTO items VALUES (1, NULL, '[1,2,3]'), (2, 'b', '[4,5,6]')");
  const out: Buffer[] = [];
  await pipeline(db.query(copyTo("COPY items (id, tag) TO STDOUT WITH (DELIMITER '|', NULL 'none')")), async function* (src) {
    for await (const b of src) out.push(b as Buffer);
  });
  expect(Buffer.concat(out).toString().split('\n').filter(Boolean).sort()).toEqual(['1|none', '2|b']);
});
