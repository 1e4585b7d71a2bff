// The daemon's ES256 check (jwt.ts with the gateway's public keys only) against tokens made
// with jose (the gateway's signer and by hand), case by case as jose's jwtVerify decided them
// before.
import { SignJWT, generateKeyPair, exportJWK, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { createSigner, generateSigningJwk } from '../../../gateway/src/signing/signer.ts';
import type { Jwks } from '../../../schema/contracts.ts';
import { verifyDataPlaneJwt } from './jwt.ts';
import { JwtError, type ClaimRules } from './jwt-claims.ts';
import { importEs256Keys, type Es256Key } from './jwt-es256.ts';

const verifyEs256 = (t: string, es256: Es256Key[], r: ClaimRules) =>
  verifyDataPlaneJwt(t, { es256 }, r);

const NOW = Math.floor(Date.now() / 1000);
const rules: ClaimRules = {
  issuer: 'fleetgate-gateway',
  audience: 'node-1',
  maxAgeS: 60,
  toleranceS: 5,
  required: ['exp', 'iat', 'jti'],
  nowS: NOW,
};

async function keyPair(alg = 'ES256', kid = 'k1') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, jwks: { keys: [jwk] } as Jwks };
}

async function token(
  privateKey: CryptoKey,
  claims: JWTPayload = {},
  header: Record<string, unknown> = {},
): Promise<string> {
  // Every claim set here, so a case can replace or drop any (undefined is left out).
  return new SignJWT({
    iss: 'fleetgate-gateway',
    aud: 'node-1',
    iat: NOW,
    exp: NOW + 60,
    jti: 'j1',
    instance: 'i',
    model: 'm',
    scope: 'inference',
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1', ...header })
    .sign(privateKey);
}

function failure(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    if (err instanceof JwtError) return err.failure;
    throw err;
  }
  return 'passed';
}

describe('verifyEs256', () => {
  it("accepts the gateway signer's tokens and returns their claims", async () => {
    const jwk = await generateSigningJwk();
    const signer = await createSigner(jwk, 60);
    const t = await signer.sign({
      aud: 'node-1',
      instance: 'inst',
      model: 'm',
      jti: 'abc',
      scope: 'inference',
    });
    const claims = verifyEs256(t, importEs256Keys(signer.jwks()), { ...rules, nowS: undefined });
    expect(claims).toMatchObject({
      aud: 'node-1',
      instance: 'inst',
      jti: 'abc',
      scope: 'inference',
    });
  });

  it('refuses a forged, altered or foreign-key token', async () => {
    const { privateKey, jwks } = await keyPair();
    const other = await keyPair();
    const keys = importEs256Keys(jwks);
    const good = await token(privateKey);
    expect(failure(() => verifyEs256(good, keys, rules))).toBe('passed');
    const [h, p, s] = good.split('.');
    const altered = `${h}.${Buffer.from(JSON.stringify({ aud: 'node-1', iss: 'fleetgate-gateway', iat: NOW, exp: NOW + 60, jti: 'x' })).toString('base64url')}.${s}`;
    expect(failure(() => verifyEs256(altered, keys, rules))).toBe('not signed by the gateway');
    const foreign = await token(other.privateKey);
    expect(failure(() => verifyEs256(foreign, keys, rules))).toBe('not signed by the gateway');
    // The right key under another kid is not looked at.
    const otherKid = await token(privateKey, {}, { kid: 'k2' });
    expect(failure(() => verifyEs256(otherKid, keys, rules))).toBe('not signed by the gateway');
    // No kid: every key of the set is tried.
    const noKid = await token(privateKey, {}, { kid: undefined });
    expect(failure(() => verifyEs256(noKid, keys, rules))).toBe('passed');
    expect(failure(() => verifyEs256(`${h}.${p}.${s}A`, keys, rules))).toBe(
      'not signed by the gateway',
    );
    expect(failure(() => verifyEs256(`${h}.${p}`, keys, rules))).toBe('malformed');
    expect(failure(() => verifyEs256(`${h}.${p}.${s}.x`, keys, rules))).toBe('malformed');
    expect(failure(() => verifyEs256(`!!.${p}.${s}`, keys, rules))).toBe('malformed');
  });

  it('refuses other algorithms, alg none and critical extensions', async () => {
    const { privateKey, jwks } = await keyPair();
    const keys = importEs256Keys(jwks);
    const [, p, s] = (await token(privateKey)).split('.');
    const header = (h: object) => Buffer.from(JSON.stringify(h)).toString('base64url');
    expect(failure(() => verifyEs256(`${header({ alg: 'none' })}.${p}.`, keys, rules))).toBe(
      'algorithm not allowed',
    );
    expect(
      failure(() => verifyEs256(`${header({ alg: 'HS256', kid: 'k1' })}.${p}.${s}`, keys, rules)),
    ).toBe('algorithm not allowed');
    expect(
      failure(() =>
        verifyEs256(
          `${header({ alg: 'ES256', kid: 'k1', crit: ['x'], x: 1 })}.${p}.${s}`,
          keys,
          rules,
        ),
      ),
    ).toBe('malformed');
    // Keys for another curve or use are not ES256 keys.
    const p384 = await keyPair('ES384');
    const mixed: Jwks = { keys: [...p384.jwks.keys, { ...jwks.keys[0], use: 'enc' }] };
    expect(importEs256Keys(mixed)).toEqual([]);
  });

  it('checks issuer, audience, expiry, age, nbf and the required claims as jose did', async () => {
    const { privateKey, jwks } = await keyPair();
    const keys = importEs256Keys(jwks);
    const check = async (claims: JWTPayload) => {
      const t = await token(privateKey, claims);
      return failure(() => verifyEs256(t, keys, rules));
    };
    expect(await check({ iss: 'someone' })).toEqual({ claim: 'iss', reason: 'check_failed' });
    expect(await check({ aud: 'node-2' })).toEqual({ claim: 'aud', reason: 'check_failed' });
    expect(await check({ aud: ['node-2', 'node-1'] })).toBe('passed');
    expect(await check({ exp: NOW - 6 })).toBe('expired');
    expect(await check({ exp: NOW - 4 })).toBe('passed'); // within the clock tolerance
    expect(await check({ iat: NOW - 66, exp: NOW + 60 })).toBe('expired'); // older than 60 s + 5
    expect(await check({ iat: NOW + 10 })).toEqual({ claim: 'iat', reason: 'check_failed' });
    expect(await check({ nbf: NOW + 10 })).toEqual({ claim: 'nbf', reason: 'check_failed' });
    expect(await check({ exp: 'soon' as unknown as number })).toEqual({
      claim: 'exp',
      reason: 'invalid',
    });
    expect(await check({ jti: undefined })).toEqual({ claim: 'jti', reason: 'missing' });
  });
});
