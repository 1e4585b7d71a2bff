// Verifies a compact data-plane JWT synchronously: its algorithm decides the key it is checked
// with (ES256: the gateway's public keys; HS256: this node's own data-plane key; anything
// else, and HS256 while the node holds no key, is refused), so no token can make one kind of
// key stand in for the other. Then the registered claims (jwt-claims.ts). This does only what
// the data plane needs.
import { JwtError, checkClaims, type ClaimRules } from './jwt-claims.ts';
import { es256Signed, type Es256Key } from './jwt-es256.ts';
import { hs256Signed, type Hs256Key } from './jwt-hs256.ts';

export interface DataPlaneKeys {
  es256: readonly Es256Key[];
  // Absent until the gateway has sent this node its key.
  hs256?: Hs256Key | undefined;
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
export function verifyDataPlaneJwt(
  token: string,
  keys: DataPlaneKeys,
  rules: ClaimRules,
): Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError('malformed');
  const [headerPart = '', payloadPart = '', signaturePart = ''] = parts;
  const header = json(headerPart);
  const { alg } = header;
  const hs256 = alg === 'HS256' ? keys.hs256 : undefined;
  if (alg !== 'ES256' && hs256 === undefined) throw new JwtError('algorithm not allowed');
  // Extensions a verifier must understand; this one understands none (as jose by default).
  if (header.crit !== undefined || header.b64 !== undefined) throw new JwtError('malformed');
  if (!B64URL.test(signaturePart)) throw new JwtError('malformed');
  const signature = Buffer.from(signaturePart, 'base64url');
  const kid = typeof header.kid === 'string' ? header.kid : undefined;
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  const valid = hs256
    ? hs256Signed(signed, signature, hs256, kid)
    : es256Signed(signed, signature, keys.es256, kid);
  if (!valid) throw new JwtError('not signed by the gateway');
  const payload = json(payloadPart);
  checkClaims(payload, rules);
  return payload;
}
