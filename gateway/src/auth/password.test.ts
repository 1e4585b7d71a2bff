import { describe, expect, it } from 'vitest';
import { PBKDF2_ITERATIONS, hashPassword, parsePasswordHash, verifyPassword } from './password.ts';

describe('password hashing', () => {
  it('stores PBKDF2-SHA256 with its parameters and verifies only the right password', async () => {
    const stored = await hashPassword('correct horse battery');
    expect(stored).toMatch(/^pbkdf2-sha256\$100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(parsePasswordHash(stored)?.iterations).toBe(PBKDF2_ITERATIONS);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
  });

  it('salts each hash', async () => {
    expect(await hashPassword('same password!')).not.toBe(await hashPassword('same password!'));
  });

  it('verifies a hash made with other parameters (so they can be raised later)', async () => {
    const stored = await hashPassword('older password', 1000);
    expect(stored.startsWith('pbkdf2-sha256$1000$')).toBe(true);
    expect(await verifyPassword('older password', stored)).toBe(true);
  });

  it('matches nothing against an unreadable stored string', async () => {
    for (const stored of [
      '',
      'bcrypt$x',
      'pbkdf2-sha256$0$AA$AA',
      'pbkdf2-sha256$99999999999$AA$AA',
    ]) {
      expect(await verifyPassword('anything', stored)).toBe(false);
    }
  });
});
