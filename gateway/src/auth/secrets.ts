// Secrets the gateway hands out (API keys, registration tokens, node secrets): 32 random
// bytes behind a prefix that says what the secret is for. Only the SHA-256 of a secret is
// stored; a leaked database then yields no usable credential. Web Crypto only, so this
// runs in both hosts.

// What each prefix names; a secret without one of these is refused before any lookup.
export const SECRET_PREFIX = {
  apiKey: 'sk-fg-',
  registrationToken: 'fgr-',
  nodeSecret: 'fgn-',
} as const;
export type SecretKind = keyof typeof SECRET_PREFIX;

const SECRET_BYTES = 32;
// Characters of the secret shown in listings: the prefix and a few random characters,
// enough to tell keys apart, far too few to guess the rest.
const DISPLAY_CHARS = 4;

function base64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
}

export function generateSecret(kind: SecretKind): string {
  return SECRET_PREFIX[kind] + base64url(crypto.getRandomValues(new Uint8Array(SECRET_BYTES)));
}

export function displayPrefix(secret: string): string {
  const kind = Object.values(SECRET_PREFIX).find((p) => secret.startsWith(p)) ?? '';
  return secret.slice(0, kind.length + DISPLAY_CHARS);
}

// 32 random bytes in base64url are 43 characters; a longer string is refused before any
// hashing, so an oversized header costs nothing.
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

// Whether `secret` has the shape of a secret of this kind (cheap check before a lookup).
export function looksLike(kind: SecretKind, secret: string): boolean {
  const prefix = SECRET_PREFIX[kind];
  return secret.startsWith(prefix) && SECRET_SHAPE.test(secret.slice(prefix.length));
}

export async function sha256Hex(text: string): Promise<string> {
  let hex = '';
  for (const b of await sha256Bytes(text)) hex += b.toString(16).padStart(2, '0');
  return hex;
}

export const hashSecret = sha256Hex;

export async function sha256Bytes(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

// Compares two digests in time that depends only on their length, never on where they
// first differ. Comparing digests rather than the secrets themselves also hides the
// secret's length.
export function digestsEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] ?? 0) ^ (b[i] ?? 0);
  return diff === 0;
}

// The Bearer credential of an Authorization header: undefined when absent, null when the
// header is there but not `Bearer <token>`.
export function bearerToken(header: string | undefined): string | undefined | null {
  if (header === undefined || header === '') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match?.[1] ?? null;
}
