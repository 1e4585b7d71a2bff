import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import { findSigningKey, signsFor } from './services.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-bench-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('signsFor', () => {
  it('matches a private key to its published key set and no other', async () => {
    const mine = await generateSigningJwk();
    const other = await generateSigningJwk();
    const jwks = (await createSigner(mine)).jwks();
    expect(await signsFor(mine, jwks)).toBe(true);
    expect(await signsFor(other, jwks)).toBe(false);
    const { d: _d, ...publicOnly } = mine;
    expect(await signsFor(publicOnly, jwks)).toBe(false);
  });
});

describe('findSigningKey', () => {
  it('finds the private key behind the published set among the settings rows', async () => {
    const url = `file:${join(dir, 'db')}`;
    const key = await generateSigningJwk();
    const decoy = await generateSigningJwk();
    const client = createClient({ url });
    await client.execute('create table settings (key text primary key, value text not null)');
    await client.execute({ sql: 'insert into settings values (?, ?)', args: ['a', 'plain'] });
    await client.execute({
      sql: 'insert into settings values (?, ?)',
      args: ['b', JSON.stringify(decoy)],
    });
    await client.execute({
      sql: 'insert into settings values (?, ?)',
      args: ['c', JSON.stringify(key)],
    });
    client.close();
    const jwks = (await createSigner(key)).jwks();
    expect(await findSigningKey(url, jwks)).toEqual(key);
    expect(
      await findSigningKey(url, (await createSigner(await generateSigningJwk())).jwks()),
    ).toBeUndefined();
  });
});
