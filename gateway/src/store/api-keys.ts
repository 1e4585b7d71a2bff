// API-key queries used on the request path (the admin API has its own, in admin/keys.ts).
import { eq } from 'drizzle-orm';
import { apiKeys } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export interface StoredKey {
  id: string;
  name: string;
  models: string[] | null;
  expiresAt: number | null;
  disabled: boolean;
}

export async function findKeyByHash(db: Db, keyHash: string): Promise<StoredKey | undefined> {
  const [row] = await db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      models: apiKeys.models,
      expiresAt: apiKeys.expiresAt,
      disabled: apiKeys.disabled,
    })
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, keyHash))
    .limit(1);
  return row;
}

export async function markKeyUsed(db: Db, id: string, at: number): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
}
