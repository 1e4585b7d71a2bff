import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  DATA_PLANE_JWT_ISSUER,
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  JwksSchema,
} from '../../../schema/contracts.ts';
import { createSigner, generateSigningJwk } from './signer.ts';

const claims = {
  aud: 'node-1',
  jti: 'req-1',
  instance: 'inst-1',
  model: 'llama',
  scope: 'inference' as const,
};

describe('data-plane signer', () => {
  it('signs tokens that verify against its own JWKS with the contract claims', async () => {
    const jwk = await generateSigningJwk();
    expect(jwk.d).toBeTypeOf('string');
    expect(jwk.kid).toBeTypeOf('string');
    expect(jwk.alg).toBe('ES256');
    const signer = await createSigner(jwk);
    const token = await signer.sign(claims);
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(signer.jwks()), {
      issuer: DATA_PLANE_JWT_ISSUER,
      audience: 'node-1',
      algorithms: ['ES256'],
    });
    expect(protectedHeader.kid).toBe(jwk.kid);
    const parsed = DataPlaneClaimsSchema.parse(payload);
    expect(parsed).toMatchObject(claims);
    expect(parsed.exp - parsed.iat).toBe(30);
  });

  it('publishes only public key members', async () => {
    const signer = await createSigner(await generateSigningJwk());
    const jwks = JwksSchema.parse(signer.jwks());
    expect(jwks.keys).toHaveLength(1);
    const [key] = jwks.keys;
    expect(key).toBeDefined();
    expect(Object.keys(key ?? {}).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    expect(key?.use).toBe('sig');
    expect(key).not.toHaveProperty('d');
  });

  it('rejects a token for another node and tokens from another key', async () => {
    const signer = await createSigner(await generateSigningJwk());
    const other = await createSigner(await generateSigningJwk());
    const token = await signer.sign(claims);
    await expect(
      jwtVerify(token, createLocalJWKSet(signer.jwks()), { audience: 'node-2' }),
    ).rejects.toThrow();
    await expect(jwtVerify(token, createLocalJWKSet(other.jwks()))).rejects.toThrow();
  });

  it('derives a kid when the stored key has none, and honours the ttl', async () => {
    const { kid: _kid, ...jwk } = await generateSigningJwk();
    const signer = await createSigner(jwk, 5);
    const token = await signer.sign(claims);
    const header = decodeProtectedHeader(token);
    expect(header.kid).toBe(signer.jwks().keys[0]?.kid);
    const { payload } = await jwtVerify(token, createLocalJWKSet(signer.jwks()));
    expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(5);
  });

  it('refuses a lifetime over the contract maximum and a public-only key', async () => {
    const jwk = await generateSigningJwk();
    await expect(createSigner(jwk, DATA_PLANE_JWT_MAX_TTL_S + 1)).rejects.toThrow(/lifetime/);
    const { d: _d, ...publicOnly } = jwk;
    await expect(createSigner(publicOnly)).rejects.toThrow(/private/);
  });
});
