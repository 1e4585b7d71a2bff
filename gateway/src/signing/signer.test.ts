import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  DATA_PLANE_JWT_ISSUER,
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  JwksSchema,
} from '../../../schema/contracts.ts';
import { createNodeSigner } from './node-signer.ts';
import { createSigner, generateSigningJwk } from './signer.ts';

const claims = {
  aud: 'node-1',
  jti: 'req-1',
  instance: 'inst-1',
  model: 'llama',
  scope: 'inference' as const,
};

// Both hosts' signers: Web Crypto through jose (either host), node:crypto (the Node host).
describe.each([
  ['web crypto', createSigner],
  ['node:crypto', createNodeSigner],
])('data-plane signer (%s)', (_name, createSigner) => {
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

describe('the two signers', () => {
  it('make the same header and claims from the same key', async () => {
    const jwk = await generateSigningJwk();
    const [web, node] = [await createSigner(jwk), await createNodeSigner(jwk)];
    expect(node.jwks()).toEqual(web.jwks());
    const decode = (token: string) => {
      const [header = '', payload = ''] = token.split('.');
      const json = (part: string): unknown =>
        JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
      return { header: json(header), payload: json(payload) };
    };
    const a = decode(await web.sign(claims));
    const b = decode(await node.sign(claims));
    expect(b.header).toEqual(a.header);
    // iat may fall on either side of a second boundary between the two calls.
    expect({ ...(b.payload as object), iat: 0, exp: 0 }).toEqual({
      ...(a.payload as object),
      iat: 0,
      exp: 0,
    });
  });
});
