// Queries on the audit_log table: one row per admin mutation, read newest first in pages.
import { desc, lt } from 'drizzle-orm';
import { auditLog } from '../../../schema/db.ts';
import type { Db } from './db.ts';

export type AuditRow = typeof auditLog.$inferSelect;
export type NewAuditRow = typeof auditLog.$inferInsert;

export async function insertAudit(db: Db, row: NewAuditRow): Promise<void> {
  await db.insert(auditLog).values(row);
}

// Up to `limit` entries older than `before` (an entry id), newest first.
export function listAudit(db: Db, limit: number, before?: number): Promise<AuditRow[]> {
  const query = db.select().from(auditLog);
  return (before === undefined ? query : query.where(lt(auditLog.id, before)))
    .orderBy(desc(auditLog.id))
    .limit(limit);
}
