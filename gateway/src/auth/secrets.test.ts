import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nodeHashSecret } from './node-hash.ts';
import {
  bearerToken,
  digestsEqual,
  displayPrefix,
  generateSecret,
  hashSecret,
  looksLike,
  sha256Bytes,
} from './secrets.ts';

describe('secrets', () => {
  it('generates prefixed secrets of 32 random bytes', () => {
    const key = generateSecret('apiKey');
    expect(key).toMatch(/^sk-fg-[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(key.slice(6), 'base64url')).toHaveLength(32);
    expect(generateSecret('registrationToken')).toMatch(/^fgr-[A-Za-z0-9_-]{43}$/);
    expect(generateSecret('nodeSecret')).toMatch(/^fgn-[A-Za-z0-9_-]{43}$/);
    const many = new Set(Array.from({ length: 200 }, () => generateSecret('apiKey')));
    expect(many.size).toBe(200);
  });

  it('hashes as SHA-256 hex, the same as node:crypto', async () => {
    const key = generateSecret('apiKey');
    expect(await hashSecret(key)).toBe(createHash('sha256').update(key).digest('hex'));
    expect(await hashSecret('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it('shows the kind prefix and four characters, never more', () => {
    const key = generateSecret('apiKey');
    expect(displayPrefix(key)).toBe(key.slice(0, 10));
    const token = generateSecret('registrationToken');
    expect(displayPrefix(token)).toBe(token.slice(0, 8));
  });

  it('tells the shape of each kind', () => {
    const key = generateSecret('apiKey');
    expect(looksLike('apiKey', key)).toBe(true);
    expect(looksLike('nodeSecret', key)).toBe(false);
    expect(looksLike('apiKey', `${key}x`)).toBe(false);
    expect(looksLike('apiKey', 'sk-fg-short')).toBe(false);
    expect(looksLike('apiKey', key.replace(/.$/, '!'))).toBe(false);
  });

  it('compares digests', async () => {
    const a = await sha256Bytes('the admin token 1');
    expect(digestsEqual(a, await sha256Bytes('the admin token 1'))).toBe(true);
    expect(digestsEqual(a, await sha256Bytes('the admin token 2'))).toBe(false);
    expect(digestsEqual(a, a.subarray(0, 16))).toBe(false);
  });

  it('reads Bearer credentials', () => {
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('')).toBeUndefined();
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer   abc ')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
  });
});

describe('the Node host secret hash', () => {
  it('is the same hex digest as hashSecret, for keys and any other text', async () => {
    for (const text of [generateSecret('apiKey'), 'wörld 🚀', '']) {
      expect(await nodeHashSecret(text)).toBe(await hashSecret(text));
    }
  });
});
