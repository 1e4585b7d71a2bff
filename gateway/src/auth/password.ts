// Password hashing for console users: PBKDF2-HMAC-SHA256 through Web Crypto, the one slow
// KDF that both hosts offer (workerd has no scrypt or Argon2). 100,000 iterations is the most
// Cloudflare Workers accept (a larger count makes deriveBits throw there), a 16-byte random
// salt, a 32-byte result. The stored string names its parameters,
//   pbkdf2-sha256$<iterations>$<salt, base64url>$<hash, base64url>
// so a later version can raise them and still verify (and rehash) older passwords.
import { digestsEqual } from './secrets.ts';

export const PBKDF2_ITERATIONS = 100_000;
export const PBKDF2_SALT_BYTES = 16;
export const PBKDF2_HASH_BYTES = 32;
const SCHEME = 'pbkdf2-sha256';
// What verify() accepts from a stored string: a corrupted row cannot make a login spin.
const MAX_ITERATIONS = 10_000_000;

export const MIN_PASSWORD_LENGTH = 12;
// PBKDF2 hashes the password once per iteration through HMAC's key; a long one is refused
// before any work, so an oversized body costs nothing.
export const MAX_PASSWORD_LENGTH = 256;

function toBase64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

function fromBase64url(text: string): Uint8Array<ArrayBuffer> | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const binary = atob(text.replaceAll('-', '+').replaceAll('_', '/'));
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

async function derive(
  password: string,
  salt: Uint8Array<ArrayBuffer>,
  iterations: number,
  bytes: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(password),
    'PBKDF2',
    false,
    ['deriveBits'],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    key,
    bytes * 8,
  );
  return new Uint8Array(bits);
}

export async function hashPassword(
  password: string,
  iterations = PBKDF2_ITERATIONS,
): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(PBKDF2_SALT_BYTES));
  const hash = await derive(password, salt, iterations, PBKDF2_HASH_BYTES);
  return `${SCHEME}$${iterations}$${toBase64url(salt)}$${toBase64url(hash)}`;
}

interface ParsedHash {
  iterations: number;
  salt: Uint8Array<ArrayBuffer>;
  hash: Uint8Array<ArrayBuffer>;
}

export function parsePasswordHash(stored: string): ParsedHash | undefined {
  const [scheme, rounds, salt64, hash64, ...rest] = stored.split('$');
  if (scheme !== SCHEME || rest.length > 0 || !rounds || !/^\d{1,8}$/.test(rounds)) {
    return undefined;
  }
  const iterations = Number(rounds);
  const salt = fromBase64url(salt64 ?? '');
  const hash = fromBase64url(hash64 ?? '');
  if (iterations < 1 || iterations > MAX_ITERATIONS || !salt || !hash || hash.length === 0) {
    return undefined;
  }
  return { iterations, salt, hash };
}

// Whether `password` matches `stored`, compared in constant time. An unreadable stored
// string matches nothing.
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parsePasswordHash(stored);
  if (!parsed) return false;
  const hash = await derive(password, parsed.salt, parsed.iterations, parsed.hash.length);
  return digestsEqual(hash, parsed.hash);
}

// A hash of no one's password (its bytes are arbitrary; only its parameters matter), verified
// when a login names an unknown user, so that such a login takes as long as one with a wrong
// password and does not tell which usernames exist.
const DECOY_HASH = `${SCHEME}$${PBKDF2_ITERATIONS}$${'A'.repeat(22)}$${'A'.repeat(43)}`;

export async function verifyAgainstDecoy(password: string): Promise<void> {
  await verifyPassword(password, DECOY_HASH);
}
