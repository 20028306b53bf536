import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { makeVerifier, parseVerifier, recoverClientKey, ScramKeyClient } from './login.ts';

// What PostgreSQL (PGlite 17) stored for CREATE ROLE alice PASSWORD 'pw'.
const STORED = 'SCRAM-SHA-256$4096:V6rJo4AXIVZH1M777j0lIw==$yj7yRJdB11ZH6NyM2SsK0RMz/ivV/L3OyYBRT4OGmyE=:+lQe4SjHpc5GXqrQzRUqq3oCouU3p+tO9dFoFD8bzrQ=';

describe('SCRAM verifiers and keys', () => {
  it('makes the verifier PostgreSQL makes for the same password, salt and iterations', () => {
    const v = parseVerifier(STORED)!;
    expect(makeVerifier('pw', Buffer.from(v.salt, 'base64'), v.iterations)).toBe(STORED);
    expect(makeVerifier('other', Buffer.from(v.salt, 'base64'), v.iterations)).not.toBe(STORED);
  });

  it('reads only SCRAM-SHA-256 verifiers', () => {
    expect(parseVerifier(STORED)?.iterations).toBe(4096);
    for (const bad of [null, '', 'md5' + 'a'.repeat(32), 'SCRAM-SHA-256$4096:abc$def:ghi', STORED.replace('$4096', '$x')]) expect(parseVerifier(bad)).toBeUndefined();
  });

  it("recovers the client key from a right proof only, and the key logs in where the verifier's keys agree", () => {
    const v = parseVerifier(STORED)!;
    // A client with the password signs an exchange; vecshard recovers its key, then signs a new one with it.
    const client = new ScramKeyClient({ ...v, clientKey: clientKeyOf('pw', v.salt, v.iterations) });
    const serverFirst = `r=${client.first.split('r=')[1]}srv,s=${v.salt},i=${v.iterations}`;
    const final = client.final(serverFirst)!;
    const authMessage = `${client.first.slice(3)},${serverFirst},${final.split(',p=')[0]}`;
    const proof = final.split(',p=')[1];
    expect(recoverClientKey(authMessage, proof, v.storedKey)).toEqual(clientKeyOf('pw', v.salt, v.iterations));
    expect(recoverClientKey(authMessage + 'x', proof, v.storedKey)).toBeUndefined();
    const wrong = new ScramKeyClient({ ...v, clientKey: clientKeyOf('nope', v.salt, v.iterations) });
    const wrongFinal = wrong.final(`r=${wrong.first.split('r=')[1]}srv,s=${v.salt},i=${v.iterations}`)!;
    expect(recoverClientKey(`${wrong.first.slice(3)},r=${wrong.first.split('r=')[1]}srv,s=${v.salt},i=${v.iterations},${wrongFinal.split(',p=')[0]}`, wrongFinal.split(',p=')[1], v.storedKey)).toBeUndefined();
    // The server's signature proves it knows the verifier; another salt means another verifier: no attempt.
    expect(client.verify(`v=${createHmac('sha256', v.serverKey).update(authMessage).digest('base64')}`)).toBe(true);
    expect(client.verify('v=AAAA')).toBe(false);
    const other = new ScramKeyClient({ ...v, clientKey: Buffer.alloc(32) });
    expect(other.final(`r=${other.first.split('r=')[1]}x,s=c2FsdA==,i=4096`)).toBeNull();
    expect(() => other.final('r=someone-else,s=c2FsdA==,i=4096')).toThrow(/nonce/);
  });
});

function clientKeyOf(password: string, salt: string, iterations: number): Buffer {
  const v = parseVerifier(makeVerifier(password, Buffer.from(salt, 'base64'), iterations))!;
  // ClientKey = HMAC(SaltedPassword, "Client Key"); recompute it the long way for the test.
  return recomputeClientKey(password, salt, iterations, v.storedKey);
}

function recomputeClientKey(password: string, salt: string, iterations: number, storedKey: Buffer): Buffer {
  const salted = pbkdf2Sync(password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
  const key = createHmac('sha256', salted).update('Client Key').digest();
  expect(createHash('sha256').update(key).digest()).toEqual(storedKey);
  return key;
}
