// The daemon's token check with both kinds of token, as the gateway's real signers make them:
// HS256 with the node's own key, ES256 with the gateway's signing key, and the tokens an
// attacker could make from what a node or the network sees.
import { createHmac } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { createNodeSigner } from '../../../gateway/src/signing/node-signer.ts';
import type { DataPlaneSigner } from '../../../gateway/src/signing/node-keys.ts';
import { createSigner, generateSigningJwk } from '../../../gateway/src/signing/signer.ts';
import { DATA_PLANE_JWT_ISSUER, type DataPlaneKey } from '../../../schema/contracts.ts';
import { DataPlaneVerifier } from './auth.ts';
import { HttpError } from './errors.ts';

const INFERENCE = { method: 'POST', path: '/v1/chat/completions' };
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

let gateway: DataPlaneSigner;
let keyA: DataPlaneKey;
let keyB: DataPlaneKey;

beforeAll(async () => {
  gateway = await createNodeSigner(await generateSigningJwk());
  keyA = await gateway.nodeKey('node-A');
  keyB = await gateway.nodeKey('node-B');
  // Both nodes' heartbeats said they hold their keys: the gateway signs HS256 for them.
  gateway.noteNodeKey('node-A', keyA.kid);
  gateway.noteNodeKey('node-B', keyB.kid);
});

function verifier(nodeId: string, key: DataPlaneKey | undefined): DataPlaneVerifier {
  const v = new DataPlaneVerifier(nodeId, DATA_PLANE_JWT_ISSUER, gateway.jwks());
  if (key) v.setNodeKey(key);
  return v;
}

let jti = 0;
const sign = (aud: string, signer: DataPlaneSigner = gateway) =>
  signer.sign({
    aud,
    jti: `req-${(jti += 1)}`,
    instance: 'inst-1',
    model: 'm',
    scope: 'inference',
  });

// A token made by hand: these claims, this header, an HMAC with this secret.
function hs256(secret: Buffer | string, claims: object, header: object): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64({
    iss: DATA_PLANE_JWT_ISSUER,
    aud: 'node-A',
    iat: now,
    exp: now + 30,
    jti: `forged-${(jti += 1)}`,
    instance: 'inst-1',
    model: 'm',
    scope: 'inference',
    ...claims,
  })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function refusal(v: DataPlaneVerifier, token: string): Promise<string> {
  const err: unknown = await v.verify(`Bearer ${token}`, INFERENCE).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof HttpError)) throw new Error('the token was accepted');
  expect(err.status).toBe(401);
  expect(err.code).toBe('invalid_node_token');
  return err.message;
}

describe('DataPlaneVerifier with a node key', () => {
  it("accepts the gateway's HS256 token for this node, and reports the key's kid", async () => {
    const a = verifier('node-A', keyA);
    expect(a.nodeKeyId).toBe(keyA.kid);
    const token = await sign('node-A');
    expect(JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString())).toEqual({
      alg: 'HS256',
      kid: keyA.kid,
      typ: 'JWT',
    });
    await expect(a.verify(`Bearer ${token}`, INFERENCE)).resolves.toMatchObject({
      aud: 'node-A',
      instance: 'inst-1',
    });
  });

  it("refuses at node B a token signed with node A's key, even one that names B", async () => {
    const b = verifier('node-B', keyB);
    expect(await refusal(b, await sign('node-A'))).toMatch(/not signed by the gateway/);
    // What node A could make with its own key: a token for B. The MAC gives it away.
    const forged = hs256(Buffer.from(keyA.key, 'base64url'), { aud: 'node-B' }, { kid: keyA.kid });
    expect(await refusal(b, forged)).toMatch(/not signed by the gateway/);
    // The same token made with B's key passes: the MAC is what was refused.
    const genuine = hs256(Buffer.from(keyB.key, 'base64url'), { aud: 'node-B' }, { kid: keyB.kid });
    await expect(b.verify(`Bearer ${genuine}`, INFERENCE)).resolves.toBeDefined();
  });

  it('refuses HS256 tokens keyed with the public JWK (algorithm confusion)', async () => {
    const [jwk] = gateway.jwks().keys;
    const publicSecrets = [JSON.stringify(jwk), JSON.stringify(gateway.jwks())];
    for (const v of [verifier('node-A', keyA), verifier('node-A', undefined)]) {
      for (const secret of publicSecrets) {
        const forged = hs256(secret, {}, { kid: keyA.kid });
        expect(await refusal(v, forged)).toMatch(/not signed by the gateway|algorithm not allowed/);
      }
    }
    // Without a node key HS256 is not an algorithm the node takes at all.
    const noKey = verifier('node-A', undefined);
    expect(noKey.nodeKeyId).toBeUndefined();
    expect(await refusal(noKey, await sign('node-A'))).toMatch(/algorithm not allowed/);
  });

  it('refuses an ES256 header over an HMAC, other algorithms and a token without signature', async () => {
    const a = verifier('node-A', keyA);
    const token = await sign('node-A');
    const [, payload, mac] = token.split('.');
    const retagged = `${b64({ alg: 'ES256', kid: keyA.kid, typ: 'JWT' })}.${payload}.${mac}`;
    expect(await refusal(a, retagged)).toMatch(/not signed by the gateway/);
    for (const alg of ['none', 'HS384', 'HS512', 'RS256', 'hs256']) {
      const other = `${b64({ alg, kid: keyA.kid })}.${payload}.${mac}`;
      expect(await refusal(a, other)).toMatch(/algorithm not allowed/);
    }
    const unsigned = `${token.split('.').slice(0, 2).join('.')}.`;
    expect(await refusal(a, unsigned)).toMatch(/not signed by the gateway/);
  });

  it('still accepts ES256 tokens from the JWKS', async () => {
    // A gateway that has not seen node C's heartbeat yet signs ES256 for it, and node C takes
    // it whether it holds its key or not.
    const token = await sign('node-C');
    expect(token.startsWith(b64({ alg: 'ES256', kid: keyA.kid, typ: 'JWT' }))).toBe(true);
    const c = verifier('node-C', await gateway.nodeKey('node-C'));
    await expect(c.verify(`Bearer ${token}`, INFERENCE)).resolves.toMatchObject({ aud: 'node-C' });
    const cWithout = verifier('node-C', undefined);
    await expect(
      cWithout.verify(`Bearer ${await sign('node-C')}`, INFERENCE),
    ).resolves.toBeDefined();
    // A node that holds a key still takes ES256: from a replica or Worker isolate that has
    // not seen its heartbeat yet, here the Worker host's signer.
    const web = await createSigner(await generateSigningJwk());
    const webVerifier = new DataPlaneVerifier('node-A', DATA_PLANE_JWT_ISSUER, web.jwks());
    webVerifier.setNodeKey(keyA);
    await expect(
      webVerifier.verify(`Bearer ${await sign('node-A', web)}`, INFERENCE),
    ).resolves.toBeDefined();
  });

  it('refuses a wrong kid, an expired token and a replay with a 401', async () => {
    const a = verifier('node-A', keyA);
    const secret = Buffer.from(keyA.key, 'base64url');
    expect(await refusal(a, hs256(secret, {}, { kid: 'another-kid' }))).toMatch(
      /not signed by the gateway/,
    );
    expect(await refusal(a, hs256(secret, {}, {}))).toMatch(/not signed by the gateway/);
    const now = Math.floor(Date.now() / 1000);
    const expired = hs256(secret, { iat: now - 120, exp: now - 60 }, { kid: keyA.kid });
    expect(await refusal(a, expired)).toMatch(/expired/);
    expect(await refusal(a, hs256(secret, { iss: 'someone' }, { kid: keyA.kid }))).toMatch(
      /claim 'iss'/,
    );
    const once = await sign('node-A');
    await a.verify(`Bearer ${once}`, INFERENCE);
    expect(await refusal(a, once)).toMatch(/already used/);
    // The scope still binds a token to what it allows.
    const logs = `/fleetgate/v1/instances/inst-1/logs`;
    await expect(
      a.verify(`Bearer ${await sign('node-A')}`, { method: 'GET', path: logs }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it('takes a rotated key: tokens under the earlier key are refused', async () => {
    const a = verifier('node-A', keyA);
    const rotated = await createNodeSigner(await generateSigningJwk());
    const next = await rotated.nodeKey('node-A');
    rotated.noteNodeKey('node-A', next.kid);
    expect(a.setNodeKey(next)).toBe(true);
    expect(a.setNodeKey(next)).toBe(false);
    expect(a.nodeKeyId).toBe(next.kid);
    expect(a.setJwks(rotated.jwks())).toBe(true);
    expect(await refusal(a, await sign('node-A'))).toMatch(/not signed by the gateway/);
    await expect(
      a.verify(`Bearer ${await sign('node-A', rotated)}`, INFERENCE),
    ).resolves.toBeDefined();
  });
});
