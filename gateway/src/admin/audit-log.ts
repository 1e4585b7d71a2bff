// GET /admin/v1/audit-log?limit=&before=: admin mutations, newest first, a page at a time.
import { Hono } from 'hono';
import { z } from 'zod';
import type { AuditEntry } from '../../../schema/admin.ts';
import { zodIssueToError } from '../lib/json-body.ts';
import { listAudit, type AuditRow } from '../store/audit-log.ts';
import type { AppDeps, AppEnv } from '../types.ts';

export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;

export const AuditQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(AUDIT_PAGE_MAX).default(AUDIT_PAGE_DEFAULT),
  before: z.coerce.number().int().min(1).optional(),
});

function entryView(row: AuditRow): AuditEntry {
  return {
    id: row.id,
    object: 'audit_entry',
    created_at: row.createdAt,
    actor: row.actorKind,
    actor_id: row.actorId,
    actor_name: row.actorName,
    method: row.method,
    route: row.route,
    resource_id: row.resourceId,
    status: row.status,
    client_address: row.clientAddress,
    request_id: row.requestId,
  };
}

export function auditLogApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.get('/', async (c) => {
    const query = AuditQuerySchema.safeParse(c.req.query());
    if (!query.success) throw zodIssueToError(query.error);
    const { limit, before } = query.data;
    // One more than asked tells whether another page follows.
    const rows = await listAudit(deps.db, limit + 1, before);
    return c.json({
      object: 'list' as const,
      data: rows.slice(0, limit).map(entryView),
      has_more: rows.length > limit,
    });
  });
  return app;
}
