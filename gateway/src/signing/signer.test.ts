import { createHmac } from 'node:crypto';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  DATA_PLANE_JWT_ISSUER,
  DATA_PLANE_JWT_MAX_TTL_S,
  DataPlaneClaimsSchema,
  DataPlaneKeySchema,
  JwksSchema,
} from '../../../schema/contracts.ts';
import { VECTOR_JWK, VECTOR_KEY, VECTOR_NODE } from '../../../test/support/data-plane-vector.ts';
import { isDataPlaneSigner } from './node-keys.ts';
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

const parts = (token: string) => {
  const [header = '', payload = '', signature = ''] = token.split('.');
  const json = (part: string): Record<string, unknown> =>
    JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as Record<string, unknown>;
  return { header: json(header), payload: json(payload), input: `${header}.${payload}`, signature };
};

describe.each([
  ['web crypto', createSigner],
  ['node:crypto', createNodeSigner],
])('per-node data-plane keys (%s)', (_name, createSigner) => {
  it('derives the fixed vector, one key per node, tied to the signing key and its kid', async () => {
    const signer = await createSigner(VECTOR_JWK);
    expect(isDataPlaneSigner(signer)).toBe(true);
    const key = await signer.nodeKey(VECTOR_NODE);
    expect(key).toEqual({ kid: VECTOR_JWK.kid, key: VECTOR_KEY });
    expect(DataPlaneKeySchema.parse(key)).toEqual(key);
    // Cached or not, the same.
    expect(await signer.nodeKey(VECTOR_NODE)).toEqual(key);
    const other = await signer.nodeKey('node_other');
    expect(other.kid).toBe(key.kid);
    expect(other.key).not.toBe(key.key);
    // A node id that only extends another's still gets an unrelated key.
    expect((await signer.nodeKey(`${VECTOR_NODE}x`)).key).not.toBe(key.key);
    // Another signing key (a rotation): other keys under another kid.
    const rotated = await createSigner(await generateSigningJwk());
    const after = await rotated.nodeKey(VECTOR_NODE);
    expect(after.kid).not.toBe(key.kid);
    expect(after.key).not.toBe(key.key);
  });

  it('signs ES256 until the node says it holds the current key, then HS256 with that key', async () => {
    const signer = await createSigner(VECTOR_JWK);
    const forNode = { ...claims, aud: VECTOR_NODE };
    expect(parts(await signer.sign(forNode)).header.alg).toBe('ES256');

    signer.noteNodeKey(VECTOR_NODE, 'an-earlier-kid');
    expect(parts(await signer.sign(forNode)).header.alg).toBe('ES256');

    signer.noteNodeKey(VECTOR_NODE, VECTOR_JWK.kid);
    const token = parts(await signer.sign(forNode));
    expect(token.header).toEqual({ alg: 'HS256', kid: VECTOR_JWK.kid, typ: 'JWT' });
    const mac = createHmac('sha256', Buffer.from(VECTOR_KEY, 'base64url'))
      .update(token.input)
      .digest('base64url');
    expect(token.signature).toBe(mac);
    expect(DataPlaneClaimsSchema.parse(token.payload)).toMatchObject(forNode);
    // Only for that node: another still gets ES256.
    expect(parts(await signer.sign(claims)).header.alg).toBe('ES256');

    // A heartbeat without a key (the daemon was downgraded) goes back to ES256.
    signer.noteNodeKey(VECTOR_NODE, undefined);
    expect(parts(await signer.sign(forNode)).header.alg).toBe('ES256');
  });
});

describe('the two signers, HS256', () => {
  it('make the same token from the same key for a node that holds it', async () => {
    const [web, node] = [await createSigner(VECTOR_JWK), await createNodeSigner(VECTOR_JWK)];
    for (const signer of [web, node]) signer.noteNodeKey('node-1', VECTOR_JWK.kid);
    const a = parts(await web.sign(claims));
    const b = parts(await node.sign(claims));
    expect(b.header).toEqual(a.header);
    expect({ ...b.payload, iat: 0, exp: 0 }).toEqual({ ...a.payload, iat: 0, exp: 0 });
    const key = Buffer.from((await web.nodeKey('node-1')).key, 'base64url');
    expect((await node.nodeKey('node-1')).key).toBe(key.toString('base64url'));
    for (const t of [a, b]) {
      expect(t.signature).toBe(createHmac('sha256', key).update(t.input).digest('base64url'));
    }
  });
});
