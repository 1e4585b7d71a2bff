// Guards the admin API. Two credentials are accepted:
// - the admin bearer token (FLEETGATE_ADMIN_TOKEN), for automation and the CLI. The presented
//   token and the configured one are compared as SHA-256 digests in constant time, so neither
//   the position of the first wrong character nor the token's length leaks through timing;
// - a console session cookie (a JWT, auth/session.ts) of a user that still exists and whose
//   session was not revoked.
// adminPermissions() then refuses, for a session, a mutation without the session's CSRF
// token, and any mutation by a viewer.
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { bearerToken, digestsEqual, sha256Bytes } from '../auth/secrets.ts';
import { SESSION_COOKIE } from '../auth/session.ts';
import { isSafeMethod, type AdminPrincipal } from '../console/principal.ts';
import type { SessionKeys } from '../console/session-keys.ts';
import { forbidden, unauthorized } from '../errors.ts';
import { findSessionUser } from '../store/admin-users.ts';
import type { Db } from '../store/db.ts';
import type { AppEnv } from '../types.ts';

export const CSRF_HEADER = 'x-csrf-token';

export interface AdminAuthOptions {
  token: string;
  db: Db;
  sessions: SessionKeys;
  now: () => number;
}

// The user of a session cookie, or undefined for a cookie that is invalid, expired, revoked
// or whose user is gone.
export async function sessionPrincipal(
  opts: Pick<AdminAuthOptions, 'db' | 'sessions' | 'now'>,
  cookie: string,
): Promise<Extract<AdminPrincipal, { kind: 'user' }> | undefined> {
  const codec = await opts.sessions();
  const claims = await codec.verify(cookie, opts.now());
  if (!claims) return undefined;
  const user = await findSessionUser(opts.db, claims.sub, claims.sid);
  if (!user) return undefined;
  return {
    kind: 'user',
    id: user.id,
    username: user.username,
    role: user.role,
    sid: claims.sid,
    exp: claims.exp,
  };
}

export function adminAuth(options: AdminAuthOptions): MiddlewareHandler<AppEnv> {
  if (options.token.length < 16) {
    throw new Error('adminAuth: the admin token must be at least 16 characters');
  }
  const expected = sha256Bytes(options.token);

  return async function adminAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (token === null) {
      throw unauthorized(
        "malformed Authorization header: expected 'Bearer <admin token>'",
        'invalid_admin_token',
      );
    }
    if (token !== undefined) {
      if (!digestsEqual(await sha256Bytes(token), await expected)) {
        throw unauthorized('invalid admin token', 'invalid_admin_token');
      }
      c.set('admin', { kind: 'admin-token' });
      return next();
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie === undefined) {
      throw unauthorized(
        'missing admin token: send Authorization: Bearer <FLEETGATE_ADMIN_TOKEN>, or sign in to the console',
        'missing_admin_token',
      );
    }
    const principal = await sessionPrincipal(options, cookie);
    if (!principal) {
      throw unauthorized('the session has expired or ended; sign in again', 'invalid_session');
    }
    c.set('admin', principal);
    return next();
  };
}

export function adminPermissions(options: { sessions: SessionKeys }): MiddlewareHandler<AppEnv> {
  return async function adminPermissionsMiddleware(c, next) {
    const principal = c.get('admin');
    if (principal?.kind === 'user' && !isSafeMethod(c.req.method)) {
      const presented = c.req.header(CSRF_HEADER) ?? '';
      const codec = await options.sessions();
      if (!(await codec.csrfValid(principal.sid, presented))) {
        throw forbidden(
          `a change made with a session cookie needs the session's CSRF token in ${CSRF_HEADER}`,
          'csrf_token_invalid',
        );
      }
      if (principal.role !== 'admin') {
        throw forbidden(
          `user '${principal.username}' is a viewer and may not change anything`,
          'forbidden',
        );
      }
    }
    return next();
  };
}
