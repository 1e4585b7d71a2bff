// Verifies a compact ES256 JWT synchronously with node:crypto, against public keys imported
// once per key set. The daemon checks one token per request: jose's jwtVerify goes through
// WebCrypto (a thread-pool job and several promises per token), which cost the daemon about
// twice the CPU of the signature check itself. This does only what the data plane needs:
// ES256, keys chosen by kid, and the registered claims jose checked for it (iss, aud, exp,
// iat no older than maxAgeS, nbf, the required claims), with the same clock tolerance.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Jwks } from '../../../schema/contracts.ts';

export type JwtFailure =
  | 'malformed'
  | 'algorithm not allowed'
  | 'not signed by the gateway'
  | 'expired'
  | { claim: string; reason: string };

export class JwtError extends Error {
  constructor(readonly failure: JwtFailure) {
    super(typeof failure === 'string' ? failure : `claim '${failure.claim}' ${failure.reason}`);
  }
}

export interface Es256Key {
  kid: string | undefined;
  key: KeyObject;
}

// The P-256 signing keys of a key set; others (another curve, an encryption key, another
// algorithm) are left out, as jose's local key set leaves them out for ES256.
export function importEs256Keys(jwks: Jwks): Es256Key[] {
  const keys: Es256Key[] = [];
  for (const jwk of jwks.keys) {
    if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (jwk.alg !== undefined && jwk.alg !== 'ES256') continue;
    const { kty, crv, x, y, kid } = jwk;
    if (typeof x !== 'string' || typeof y !== 'string') continue;
    keys.push({
      kid: typeof kid === 'string' ? kid : undefined,
      key: createPublicKey({ key: { kty, crv, x, y }, format: 'jwk' }),
    });
  }
  return keys;
}

export interface ClaimRules {
  issuer: string;
  audience: string;
  maxAgeS: number;
  toleranceS: number;
  required: readonly string[];
  nowS?: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function json(part: string): Record<string, unknown> {
  if (!B64URL.test(part)) throw new JwtError('malformed');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwtError('malformed');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new JwtError('malformed');
  }
  return value as Record<string, unknown>;
}

// The payload of a token that passes every check; throws JwtError otherwise.
export function verifyEs256(
  token: string,
  keys: readonly Es256Key[],
  rules: ClaimRules,
): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = json(headerPart);
  if (header.alg !== 'ES256') throw new JwtError('algorithm not allowed');
  // Extensions a verifier must understand; this one understands none (as jose by default).
  if (header.crit !== undefined || header.b64 !== undefined) throw new JwtError('malformed');
  if (!B64URL.test(signaturePart)) throw new JwtError('malformed');
  const signature = Buffer.from(signaturePart, 'base64url');
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const candidates = kid === undefined ? keys : keys.filter((k) => k.kid === kid);
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  // An ES256 signature is r || s, 32 bytes each (IEEE P1363), not DER.
  const valid =
    signature.length === 64 &&
    candidates.some((k) =>
      verify('sha256', signed, { key: k.key, dsaEncoding: 'ieee-p1363' }, signature),
    );
  if (!valid) throw new JwtError('not signed by the gateway');
  const payload = json(payloadPart);
  checkClaims(payload, rules);
  return payload;
}

function checkClaims(payload: Record<string, unknown>, rules: ClaimRules): void {
  const now = rules.nowS ?? Math.floor(Date.now() / 1000);
  const tolerance = rules.toleranceS;
  // In jose's order, so a token missing several claims names the same one.
  for (const claim of new Set([...rules.required, 'iat', 'aud', 'iss'].reverse())) {
    if (!Object.hasOwn(payload, claim)) throw new JwtError({ claim, reason: 'missing' });
  }
  if (payload.iss !== rules.issuer) throw new JwtError({ claim: 'iss', reason: 'check_failed' });
  const aud = payload.aud;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(rules.audience)) {
    throw new JwtError({ claim: 'aud', reason: 'check_failed' });
  }
  const { iat, exp, nbf } = payload;
  if (typeof iat !== 'number') throw new JwtError({ claim: 'iat', reason: 'invalid' });
  if (nbf !== undefined) {
    if (typeof nbf !== 'number') throw new JwtError({ claim: 'nbf', reason: 'invalid' });
    if (nbf > now + tolerance) throw new JwtError({ claim: 'nbf', reason: 'check_failed' });
  }
  if (exp !== undefined) {
    if (typeof exp !== 'number') throw new JwtError({ claim: 'exp', reason: 'invalid' });
    if (exp <= now - tolerance) throw new JwtError('expired');
  }
  const age = now - iat;
  if (age - tolerance > rules.maxAgeS) throw new JwtError('expired');
  if (age < -tolerance) throw new JwtError({ claim: 'iat', reason: 'check_failed' });
}
