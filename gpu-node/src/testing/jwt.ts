// Test helpers: a gateway-like ES256 key pair and tokens with the data-plane claims.
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import {
  DATA_PLANE_JWT_ISSUER,
  type DataPlaneScope,
  type Jwks,
} from '../../../schema/contracts.ts';

export interface TestSigner {
  jwks: Jwks;
  sign(claims: {
    aud: string;
    instance: string;
    model?: string;
    iatOffsetS?: number;
    ttlS?: number;
    issuer?: string;
    // Default 'inference'.
    scope?: DataPlaneScope;
    // Default: a fresh random id.
    jti?: string;
  }): Promise<string>;
}

export async function testSigner(kid = 'test-key'): Promise<TestSigner> {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  return {
    jwks: { keys: [{ ...jwk, kid, alg: 'ES256', use: 'sig' }] },
    sign: (c) => signWith(privateKey, kid, c),
  };
}

async function signWith(
  key: CryptoKey,
  kid: string,
  c: Parameters<TestSigner['sign']>[0],
): Promise<string> {
  const iat = Math.floor(Date.now() / 1000) + (c.iatOffsetS ?? 0);
  return new SignJWT({
    instance: c.instance,
    model: c.model ?? 'm1',
    scope: c.scope ?? 'inference',
  })
    .setProtectedHeader({ alg: 'ES256', kid })
    .setIssuer(c.issuer ?? DATA_PLANE_JWT_ISSUER)
    .setAudience(c.aud)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (c.ttlS ?? 30))
    .setJti(c.jti ?? `req-${Math.random().toString(36).slice(2)}`)
    .sign(key);
}
