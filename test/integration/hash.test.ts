// vecshard's hash of a distribution value equals PostgreSQL's own, checked against a real server.
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPgServers } from '../helpers/pg-nodes.ts';
import { hashInt8, hashText, hashUuid, hashRange, shardIndexForHash } from '../../src/metadata/hash.ts';

let pgs: Awaited<ReturnType<typeof startPgServers>>;
let db: pg.Client;
beforeAll(async () => {
  pgs = await startPgServers(1);
  db = new pg.Client(pgs.servers[0].url + '/postgres');
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  pgs?.stopAll();
});

it('hashint8 / hashint4 match Postgres', async () => {
  const values = fc.sample(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), 300).concat([0n, 1n, -1n, 2n ** 31n, -(2n ** 31n), 2n ** 63n - 1n, -(2n ** 63n)]);
  const r = await db.query('SELECT v::text, hashint8(v::int8) AS h FROM unnest($1::text[]) v', [values.map(String)]);
  for (const row of r.rows) expect(hashInt8(BigInt(row.v))).toBe(row.h);
  const small = fc.sample(fc.integer(), 200);
  const r4 = await db.query('SELECT v, hashint4(v) AS h FROM unnest($1::int4[]) v', [small]);
  for (const row of r4.rows) expect(hashInt8(BigInt(row.v))).toBe(row.h);
});

it('hashtext and uuid_hash match Postgres for every length up to 40', async () => {
  const strings = fc.sample(fc.string({ unit: 'grapheme', maxLength: 40 }), 300).concat(Array.from({ length: 41 }, (_, i) => 'x'.repeat(i)));
  const r = await db.query('SELECT v, hashtext(v) AS h FROM unnest($1::text[]) v', [strings]);
  for (const row of r.rows) expect(hashText(row.v)).toBe(row.h);
  const uuids = fc.sample(fc.uuid(), 100);
  const ru = await db.query('SELECT v::text, uuid_hash(v) AS h FROM unnest($1::uuid[]) v', [uuids]);
  for (const row of ru.rows) expect(hashUuid(row.v)).toBe(row.h);
});

it('hash ranges cover int32 exactly, and every hash falls in its range', () => {
  for (const n of [1, 2, 3, 7, 8, 32]) {
    expect(hashRange(0, n)[0]).toBe(-(2 ** 31));
    expect(hashRange(n - 1, n)[1]).toBe(2 ** 31 - 1);
    for (let i = 1; i < n; i++) expect(hashRange(i, n)[0]).toBe(hashRange(i - 1, n)[1] + 1);
  }
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 1, max: 64 }), (h, n) => {
      const i = shardIndexForHash(h, n);
      const [min, max] = hashRange(i, n);
      return h >= min && h <= max;
    }),
  );
});
