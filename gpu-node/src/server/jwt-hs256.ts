// HS256 signatures of data-plane JWTs, made with this node's own data-plane key (the gateway
// derives one per node and sends it over the control plane: schema/contracts.ts). An HMAC
// costs a few microseconds where an ECDSA check costs about a hundred.
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { DATA_PLANE_KEY_BYTES, type DataPlaneKey } from '../../../schema/contracts.ts';

export interface Hs256Key {
  kid: string;
  key: KeyObject;
}

export function importHs256Key(key: DataPlaneKey): Hs256Key {
  const bytes = Buffer.from(key.key, 'base64url');
  if (bytes.length !== DATA_PLANE_KEY_BYTES) {
    throw new Error(`a data-plane key has ${DATA_PLANE_KEY_BYTES} bytes, got ${bytes.length}`);
  }
  return { kid: key.kid, key: createSecretKey(bytes) };
}

// Whether `signature` is the HS256 MAC of `signed` under this node's key, for a header that
// names that key's kid (a token without one, or for an earlier key, is not looked at).
// Compared in constant time.
export function hs256Signed(
  signed: Buffer,
  signature: Buffer,
  key: Hs256Key,
  kid: string | undefined,
): boolean {
  if (kid !== key.kid) return false;
  const expected = createHmac('sha256', key.key).update(signed).digest();
  return signature.length === expected.length && timingSafeEqual(signature, expected);
}
