// The Node host's signer: the same ES256 tokens as signer.ts (same header, claims, kid and
// key set), signed with node:crypto in the calling thread. Web Crypto's sign goes through a
// job, a promise and the thread pool for each request, and jose builds the token through
// several objects; this costs a fraction of that per forwarded request. Node only: the
// Worker host keeps createSigner.
import { createPrivateKey, sign } from 'node:crypto';
import type { JWK } from 'jose';
import { DATA_PLANE_JWT_ISSUER } from '../../../schema/contracts.ts';
import type { Signer } from '../types.ts';
import { DEFAULT_JWT_TTL_S, signingKeyInfo } from './signer.ts';

const b64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export async function createNodeSigner(privateJwk: JWK, ttlS = DEFAULT_JWT_TTL_S): Promise<Signer> {
  const { kid, publicJwks } = await signingKeyInfo(privateJwk, ttlS);
  const { kty, crv, x, y, d } = privateJwk;
  const key = createPrivateKey({ key: { kty, crv, x, y, d }, format: 'jwk' });
  // The header never changes: encoded once.
  const header = b64url(JSON.stringify({ alg: 'ES256', kid, typ: 'JWT' }));
  return {
    sign({ aud, jti, instance, model, scope }) {
      const iat = Math.floor(Date.now() / 1000);
      const claims = { instance, model, scope, iss: DATA_PLANE_JWT_ISSUER, aud, jti, iat };
      const input = `${header}.${b64url(JSON.stringify({ ...claims, exp: iat + ttlS }))}`;
      // JWS wants the raw r||s form of the ECDSA signature, not DER.
      const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      return Promise.resolve(`${input}.${b64url(signature)}`);
    },
    jwks: () => structuredClone(publicJwks),
  };
}
