// Records every admin mutation in the audit log (who, what, when, from where, how it ended),
// as middleware around the whole admin API so that no route can forget it. Runs after the
// handler (or the error handler) has answered, so the status is the one the client got.
// Only mutations by an authenticated caller are recorded, and logins (successful or not,
// the latter throttled): a flood of unauthenticated requests does not fill the table.
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import { isSafeMethod } from '../console/principal.ts';
import type { Db } from '../store/db.ts';
import { insertAudit, type NewAuditRow } from '../store/audit-log.ts';
import type { AppEnv } from '../types.ts';

// Longer ids are cut: a path segment is the client's, and the row must stay small.
const MAX_RESOURCE_ID = 128;
// Created objects answer their id in small JSON bodies; larger answers are not read.
const MAX_ID_BODY_BYTES = 64 * 1024;

export interface AuditOptions {
  db: Db;
  now: () => number;
  // The client's address as the host sees it (types.ts ClientAddress).
  clientAddress: (c: Context<AppEnv>) => string | undefined;
  // Routes whose mutations are recorded even without a caller (the login).
  anonymousRoutes: readonly string[];
}

// The pattern of the route that handled the request (the last method-specific match), so
// that the log holds /admin/v1/keys/:id and not whatever a client put in the path.
function routeOf(c: Context<AppEnv>): string | undefined {
  return matchedRoutes(c)
    .filter((r) => r.method !== 'ALL')
    .at(-1)?.path;
}

// The value of the route's :id segment in this request's path.
export function idFromPath(pattern: string, path: string): string | undefined {
  const names = pattern.split('/');
  const values = path.split('/');
  const at = names.findIndex((n) => n === ':id' || n.startsWith(':id{'));
  if (at < 0) return undefined;
  const raw = values[at];
  if (raw === undefined || raw === '') return undefined;
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    value = raw;
  }
  return value.slice(0, MAX_RESOURCE_ID);
}

async function createdId(res: Response): Promise<string | undefined> {
  if (!res.ok || !res.headers.get('content-type')?.includes('application/json')) return undefined;
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > MAX_ID_BODY_BYTES) return undefined;
  try {
    const body: unknown = await res.clone().json();
    if (typeof body === 'object' && body !== null && 'id' in body) {
      const { id } = body;
      if (typeof id === 'string') return id.slice(0, MAX_RESOURCE_ID);
      if (typeof id === 'number') return String(id);
    }
  } catch {
    // Not JSON after all: no id to record.
  }
  return undefined;
}

export function audit(options: AuditOptions): MiddlewareHandler<AppEnv> {
  return async function auditMiddleware(c, next) {
    await next();
    if (isSafeMethod(c.req.method)) return;
    const route = routeOf(c) ?? c.req.path;
    const principal = c.get('admin');
    if (!principal && !options.anonymousRoutes.includes(route)) return;
    const row: NewAuditRow = {
      createdAt: options.now(),
      actorKind: principal?.kind ?? 'anonymous',
      actorId: principal?.kind === 'user' ? principal.id : null,
      actorName: principal?.kind === 'user' ? principal.username : (c.get('loginName') ?? null),
      method: c.req.method,
      route,
      resourceId: idFromPath(route, c.req.path) ?? (await createdId(c.res)) ?? null,
      status: c.res.status,
      clientAddress: options.clientAddress(c) ?? null,
      requestId: c.get('requestId'),
    };
    try {
      await insertAudit(options.db, row);
    } catch (err) {
      // The change is made and answered; what is lost is its record, said loudly here.
      console.error(
        `audit log: could not record ${row.method} ${row.route} (request ${row.requestId}):`,
        err instanceof Error ? err.message : err,
      );
    }
  };
}
