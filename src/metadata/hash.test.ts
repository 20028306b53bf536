// Postgres's uuid input forms hash alike; anything else is refused as Postgres refuses it.
import { expect, it } from 'vitest';
import { hashUuid } from './hash.ts';

it('hashes every spelling of a uuid as its 16 bytes', () => {
  const id = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11';
  const h = hashUuid(id);
  for (const s of [id.toUpperCase(), `{${id}}`, id.replace(/-/g, ''), 'a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11', ` ${id} `]) expect(hashUuid(s), s).toBe(h);
  for (const bad of [`{${id}`, `${id}}`, id.slice(1), `${id}0`, 'a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11', `-${id}`, 'zz']) {
    expect(() => hashUuid(bad), bad).toThrow(/invalid input syntax for type uuid/);
  }
});
