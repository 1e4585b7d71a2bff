// Signs the short-lived JWT the gateway attaches to every request it forwards to a node.
// ES256 (asymmetric): nodes hold only the public JWKS, so a compromised node cannot mint
// tokens for another. Web Crypto only (through jose), so it runs on Node 20 and in workerd.
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';
import { DATA_PLANE_JWT_ISSUER, DATA_PLANE_JWT_MAX_TTL_S } from '../../../schema/contracts.ts';
import type { Jwks } from '../../../schema/contracts.ts';
import type { Signer } from '../types.ts';

const ALG = 'ES256';
export const DEFAULT_JWT_TTL_S = 30;

// A fresh private signing key as a JWK (with kid and alg), for the host to keep: the Node
// host stores it in the settings table, the Worker takes it from a secret.
export async function generateSigningJwk(): Promise<JWK> {
  const { privateKey } = await generateKeyPair(ALG, { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: ALG };
}

// The checked key's kid and public key set, shared by this signer and the Node host's
// (node-signer.ts).
export async function signingKeyInfo(
  privateJwk: JWK,
  ttlS: number,
): Promise<{ kid: string; publicJwks: Jwks }> {
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || !privateJwk.d) {
    throw new Error('signing key must be a private EC P-256 JWK (ES256)');
  }
  if (!Number.isInteger(ttlS) || ttlS <= 0 || ttlS > DATA_PLANE_JWT_MAX_TTL_S) {
    throw new Error(`JWT lifetime must be 1..${DATA_PLANE_JWT_MAX_TTL_S} seconds, got ${ttlS}`);
  }
  const { kty, crv, x, y } = privateJwk;
  // The thumbprint covers only the public members, so a kid-less key gets a stable kid.
  const kid = privateJwk.kid ?? (await calculateJwkThumbprint({ kty, crv, x, y }));
  // Only the public members are published, whatever else the stored JWK carries.
  return { kid, publicJwks: { keys: [{ kty, crv, x, y, kid, alg: ALG, use: 'sig' }] } };
}

export async function createSigner(privateJwk: JWK, ttlS = DEFAULT_JWT_TTL_S): Promise<Signer> {
  const { kid, publicJwks } = await signingKeyInfo(privateJwk, ttlS);
  const key = await importJWK({ ...privateJwk, alg: ALG }, ALG);

  return {
    async sign({ aud, jti, instance, model, scope }) {
      const iat = Math.floor(Date.now() / 1000);
      return new SignJWT({ instance, model, scope })
        .setProtectedHeader({ alg: ALG, kid, typ: 'JWT' })
        .setIssuer(DATA_PLANE_JWT_ISSUER)
        .setAudience(aud)
        .setJti(jti)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ttlS)
        .sign(key);
    },
    jwks: () => structuredClone(publicJwks),
  };
}
