// Who a client's statements run as on the nodes. With SCRAM pass-through vecshard logs in to a node as the client's
// own role, with the client key recovered from the client's proof (as PgBouncer does with auth_query): no client
// password is ever kept. Otherwise it logs in as the node's configured user and takes the client's role with SET
// SESSION AUTHORIZATION.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/** A role's SCRAM-SHA-256 verifier, as pg_authid.rolpassword holds it. */
export interface ScramVerifier {
  iterations: number;
  /** base64, as the server-first message carries it */
  salt: string;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The client's role, and its SCRAM key when the client proved it against the role's verifier on the nodes. */
export interface Login {
  role: string;
  scram?: ScramVerifier & { clientKey: Buffer };
}

const hmac = (key: Buffer, text: string) => createHmac('sha256', key).update(text).digest();
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();

/** Reads `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`; undefined for anything else (md5, null). */
export function parseVerifier(text: string | null | undefined): ScramVerifier | undefined {
  const m = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/.exec(text ?? '');
  if (!m) return undefined;
  const storedKey = Buffer.from(m[3], 'base64');
  const serverKey = Buffer.from(m[4], 'base64');
  if (storedKey.length !== 32 || serverKey.length !== 32) return undefined;
  return { iterations: Number(m[1]), salt: m[2], storedKey, serverKey };
}

/**
 * The verifier PostgreSQL would store for a password (4096 iterations, a random salt). vecshard sends this to every
 * node instead of the password, so all nodes hold the same salt and keys and one client key logs in everywhere.
 * Non-ASCII passwords are NFKC-normalised, which is what SASLprep does to ordinary text.
 */
export function makeVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password.normalize('NFKC'), 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmac(salted, 'Client Key');
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${sha256(clientKey).toString('base64')}:${serverKey.toString('base64')}`;
}

/** The client key inside a client's proof, if the proof is right: ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage). */
export function recoverClientKey(authMessage: string, proofBase64: string, storedKey: Buffer): Buffer | undefined {
  const proof = Buffer.from(proofBase64, 'base64');
  const signature = hmac(storedKey, authMessage);
  if (proof.length !== signature.length) return undefined;
  const clientKey = Buffer.alloc(proof.length);
  for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i] ^ signature[i];
  return timingSafeEqual(sha256(clientKey), storedKey) ? clientKey : undefined;
}

/** The client side of SCRAM-SHA-256 with a client key in place of a password (RFC 5802, no channel binding). */
export class ScramKeyClient {
  readonly #nonce = randomBytes(18).toString('base64');
  #authMessage = '';

  constructor(readonly secret: ScramVerifier & { clientKey: Buffer }) {}

  /** The client-first message (the user name is empty: PostgreSQL takes it from the startup packet). */
  get first(): string {
    return `n,,n=,r=${this.#nonce}`;
  }

  /** The client-final message for the server-first message; null when the node holds another verifier. */
  final(serverFirst: string): string | null {
    const attrs = new Map(serverFirst.split(',').map((p) => [p[0], p.slice(2)] as const));
    const nonce = attrs.get('r') ?? '';
    if (!nonce.startsWith(this.#nonce)) throw new Error('the node answered SCRAM with a nonce that is not ours');
    if (attrs.get('s') !== this.secret.salt || Number(attrs.get('i')) !== this.secret.iterations) return null;
    const withoutProof = `c=biws,r=${nonce}`;
    this.#authMessage = `n=,r=${this.#nonce},${serverFirst},${withoutProof}`;
    const signature = hmac(this.secret.storedKey, this.#authMessage);
    const proof = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) proof[i] = this.secret.clientKey[i] ^ signature[i];
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Whether the server-final message proves the node knows the verifier too. */
  verify(serverFinal: string): boolean {
    const v = /(?:^|,)v=([^,]+)/.exec(serverFinal)?.[1];
    const expected = hmac(this.secret.serverKey, this.#authMessage);
    return !!v && Buffer.from(v, 'base64').equals(expected);
  }
}
