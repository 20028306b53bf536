// Distribution values hash as Postgres reads them (uuid spellings, integer forms); anything else is refused as Postgres refuses it.
import { expect, it } from 'vitest';
import { HASHERS, hashInt8, hashUuid } from './hash.ts';

it('hashes every spelling of a uuid as its 16 bytes', () => {
  const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
  const h = hashUuid(id);
  for (const s of [id.toUpperCase(), `{${id}}`, id.replace(/-/g, ''), 'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11', ` ${id} `]) expect(hashUuid(s), s).toBe(h);
  for (const bad of [`{${id}`, `${id}}`, id.slice(1), `${id}0`, 'a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11', `-${id}`, 'zz']) {
    expect(() => hashUuid(bad), bad).toThrow(/invalid input syntax for type uuid/);
  }
});

it('reads an integer distribution value as Postgres does, and refuses what Postgres refuses with its SQLSTATE', () => {
  expect(HASHERS.int4(' +42 ')).toBe(hashInt8(42n));
  expect(HASHERS.int8('-9223372036854775808')).toBe(hashInt8(-(2n ** 63n)));
  expect(HASHERS.int4('0x1F')).toBe(hashInt8(31n));
  expect(HASHERS.int4('1_000')).toBe(hashInt8(1000n));
  for (const bad of ['nope', '', '1.5', '1e3', '--1', '1_', '0x']) expect(() => HASHERS.int4(bad), bad).toThrow(expect.objectContaining({ fields: expect.objectContaining({ code: '22P02' }) }));
  expect(() => HASHERS.int4('2147483648')).toThrow(expect.objectContaining({ fields: expect.objectContaining({ code: '22003' }) }));
  expect(() => HASHERS.int2('-32769')).toThrow(/out of range for type smallint/);
});
