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
