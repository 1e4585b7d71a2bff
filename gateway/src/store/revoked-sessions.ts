// Queries on the revoked_sessions table: a logout revokes its session until the session
// would have expired anyway; expired rows are deleted with each new one, so the table holds
// at most the sessions ended within one session lifetime.
import { lt } from 'drizzle-orm';
import { revokedSessions } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export async function revokeSession(
  db: Db,
  sid: string,
  expiresAt: number,
  now: number,
): Promise<void> {
  await db.batch([
    db.delete(revokedSessions).where(lt(revokedSessions.expiresAt, now)),
    db.insert(revokedSessions).values({ sid, expiresAt }).onConflictDoNothing(),
  ]);
}
