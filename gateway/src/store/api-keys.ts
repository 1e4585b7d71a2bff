// Queries on the api_keys table: the lookup and last-use write on the request path, and the
// admin API's create, list, read, change and revoke.
import { desc, eq } from 'drizzle-orm';
import { apiKeys } from '../../../schema/db.ts';
import type { KeyLimits } from '../limits/arithmetic.ts';
import { limitsOfRow } from '../limits/wire.ts';
import type { Db } from './db.ts';

export type KeyRow = typeof apiKeys.$inferSelect;
export type NewKey = typeof apiKeys.$inferInsert;

export interface StoredKey {
  id: string;
  name: string;
  models: string[] | null;
  expiresAt: number | null;
  disabled: boolean;
  limits: KeyLimits;
}

export async function findKeyByHash(db: Db, keyHash: string): Promise<StoredKey | undefined> {
  const [row] = await db
    .select({
      id: apiKeys.id,
      name: apiKeys.name,
      models: apiKeys.models,
      expiresAt: apiKeys.expiresAt,
      disabled: apiKeys.disabled,
      rpmLimit: apiKeys.rpmLimit,
      tpmLimit: apiKeys.tpmLimit,
      maxConcurrent: apiKeys.maxConcurrent,
      tokenBudget: apiKeys.tokenBudget,
      spendBudgetUsd: apiKeys.spendBudgetUsd,
      budgetPeriod: apiKeys.budgetPeriod,
    })
    .from(apiKeys)
    .where(eq(apiKeys.keyHash, keyHash))
    .limit(1);
  if (!row) return undefined;
  const { id, name, models, expiresAt, disabled } = row;
  return { id, name, models, expiresAt, disabled, limits: limitsOfRow(row) };
}

export async function markKeyUsed(db: Db, id: string, at: number): Promise<void> {
  await db.update(apiKeys).set({ lastUsedAt: at }).where(eq(apiKeys.id, id));
}

export async function insertKey(db: Db, key: NewKey): Promise<KeyRow> {
  const [row] = await db.insert(apiKeys).values(key).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export function listKeys(db: Db): Promise<KeyRow[]> {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt));
}

export async function findKey(db: Db, id: string): Promise<KeyRow | undefined> {
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
  return row;
}

// The changed row, or undefined when there is no such key.
export async function updateKey(
  db: Db,
  id: string,
  changes: Partial<NewKey>,
): Promise<KeyRow | undefined> {
  const [row] = await db.update(apiKeys).set(changes).where(eq(apiKeys.id, id)).returning();
  return row;
}

// False when there was no such key.
export async function deleteKey(db: Db, id: string): Promise<boolean> {
  const [row] = await db.delete(apiKeys).where(eq(apiKeys.id, id)).returning({ id: apiKeys.id });
  return row !== undefined;
}
