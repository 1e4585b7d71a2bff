// Queries on the admin_users table (console users), and the one lookup every session-cookie
// request makes: the user with whether this session was revoked, in one round trip.
import { asc, eq, sql } from 'drizzle-orm';
import { adminUsers, revokedSessions } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export type AdminUserRow = typeof adminUsers.$inferSelect;
export type NewAdminUser = typeof adminUsers.$inferInsert;

// undefined when the username is taken (compared without case).
export async function insertAdminUser(
  db: Db,
  user: NewAdminUser,
): Promise<AdminUserRow | undefined> {
  const [row] = await db.insert(adminUsers).values(user).onConflictDoNothing().returning();
  return row;
}

export function listAdminUsers(db: Db): Promise<AdminUserRow[]> {
  return db.select().from(adminUsers).orderBy(asc(adminUsers.createdAt), asc(adminUsers.id));
}

export async function findAdminUserByName(
  db: Db,
  username: string,
): Promise<AdminUserRow | undefined> {
  const [row] = await db
    .select()
    .from(adminUsers)
    .where(sql`lower(${adminUsers.username}) = lower(${username})`)
    .limit(1);
  return row;
}

// The user behind a session, unless the session was revoked (logout) or the user deleted.
export async function findSessionUser(
  db: Db,
  userId: string,
  sid: string,
): Promise<AdminUserRow | undefined> {
  const [row] = await db
    .select({
      user: adminUsers,
      revoked: sql<number>`exists (select 1 from ${revokedSessions} where ${revokedSessions.sid} = ${sid})`,
    })
    .from(adminUsers)
    .where(eq(adminUsers.id, userId))
    .limit(1);
  return row && !row.revoked ? row.user : undefined;
}

// False when there was no such user.
export async function deleteAdminUser(db: Db, id: string): Promise<boolean> {
  const [row] = await db
    .delete(adminUsers)
    .where(eq(adminUsers.id, id))
    .returning({ id: adminUsers.id });
  return row !== undefined;
}
