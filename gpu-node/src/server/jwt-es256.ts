// ES256 signatures of data-plane JWTs, checked synchronously with node:crypto against public
// keys imported once per key set (the gateway's JWKS). jose's jwtVerify goes through
// WebCrypto (a thread-pool job and several promises per token), which cost the daemon about
// twice the CPU of the signature check itself.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Jwks } from '../../../schema/contracts.ts';

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

// Whether `signature` is an ES256 signature of `signed` by a key of the set: the key the
// header's kid names, or any key when the header names none.
export function es256Signed(
  signed: Buffer,
  signature: Buffer,
  keys: readonly Es256Key[],
  kid: string | undefined,
): boolean {
  // An ES256 signature is r || s, 32 bytes each (IEEE P1363), not DER.
  if (signature.length !== 64) return false;
  const candidates = kid === undefined ? keys : keys.filter((k) => k.kid === kid);
  return candidates.some((k) =>
    verify('sha256', signed, { key: k.key, dsaEncoding: 'ieee-p1363' }, signature),
  );
}
