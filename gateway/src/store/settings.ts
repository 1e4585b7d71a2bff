// Host state kept in the settings table: the Node host's signing key, generated on first
// start. Two hosts starting at once on one database agree on the first key written.
import { eq } from 'drizzle-orm';
import type { JWK } from 'jose';
import { settings } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export const SIGNING_JWK_SETTING = 'signing_jwk';

export async function loadOrCreateSigningJwk(db: Db, generate: () => Promise<JWK>): Promise<JWK> {
  const read = async () => {
    const [row] = await db
      .select({ value: settings.value })
      .from(settings)
      .where(eq(settings.key, SIGNING_JWK_SETTING))
      .limit(1);
    return row ? (JSON.parse(row.value) as JWK) : undefined;
  };
  const existing = await read();
  if (existing) return existing;
  const jwk = await generate();
  await db
    .insert(settings)
    .values({ key: SIGNING_JWK_SETTING, value: JSON.stringify(jwk), updatedAt: Date.now() })
    .onConflictDoNothing();
  const stored = await read();
  if (!stored) throw new Error('the signing key could not be stored in the settings table');
  return stored;
}

export const SESSION_SECRET_SETTING = 'session_secret';

// A setting's value, generated and stored by whoever reads it first; hosts racing on one
// database all end up with the first value written.
export async function loadOrCreateSetting(
  db: Db,
  key: string,
  generate: () => string,
): Promise<string> {
  const read = async () => {
    const [row] = await db
      .select({ value: settings.value })
      .from(settings)
      .where(eq(settings.key, key))
      .limit(1);
    return row?.value;
  };
  const existing = await read();
  if (existing !== undefined) return existing;
  await db
    .insert(settings)
    .values({ key, value: generate(), updatedAt: Date.now() })
    .onConflictDoNothing();
  const stored = await read();
  if (stored === undefined) throw new Error(`the setting '${key}' could not be stored`);
  return stored;
}
