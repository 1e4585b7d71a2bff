// Queries on the registration_tokens table: the admin API's create, list and delete, and
// the node API's lookup (a use is taken with the node's insert: store/nodes.ts).
import { desc, eq } from 'drizzle-orm';
import { registrationTokens } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export type TokenRow = typeof registrationTokens.$inferSelect;
export type NewToken = typeof registrationTokens.$inferInsert;

export async function insertToken(db: Db, token: NewToken): Promise<TokenRow> {
  const [row] = await db.insert(registrationTokens).values(token).returning();
  if (!row) throw new Error('insert returned no row');
  return row;
}

export function listTokens(db: Db): Promise<TokenRow[]> {
  return db.select().from(registrationTokens).orderBy(desc(registrationTokens.createdAt));
}

// False when there was no such token.
export async function deleteToken(db: Db, id: string): Promise<boolean> {
  const [row] = await db
    .delete(registrationTokens)
    .where(eq(registrationTokens.id, id))
    .returning({ id: registrationTokens.id });
  return row !== undefined;
}

export async function findTokenByHash(db: Db, tokenHash: string): Promise<TokenRow | undefined> {
  const [row] = await db
    .select()
    .from(registrationTokens)
    .where(eq(registrationTokens.tokenHash, tokenHash))
    .limit(1);
  return row;
}
