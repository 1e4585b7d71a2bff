// /admin/v1/session: sign in to the console (POST), read the session (GET), sign out
// (DELETE). Answered before the admin API's authentication, which accepts the cookie this
// sets. Failed logins are throttled per username and per client address, counted in the
// database (auth/login-throttle.ts), so every replica and isolate sees the same counts.
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import type { Session } from '../../../schema/admin.ts';
import {
  ADDRESS_THROTTLE,
  USER_THROTTLE,
  addressThrottleKey,
  retryAfterMs,
  userThrottleKey,
} from '../auth/login-throttle.ts';
import { MAX_PASSWORD_LENGTH, verifyAgainstDecoy, verifyPassword } from '../auth/password.ts';
import { SESSION_COOKIE, SESSION_TTL_S, type SessionCodec } from '../auth/session.ts';
import type { AdminPrincipal } from '../console/principal.ts';
import type { SessionKeys } from '../console/session-keys.ts';
import { ApiError, unauthorized } from '../errors.ts';
import { readJson } from '../lib/json-body.ts';
import { sessionPrincipal } from '../middleware/admin-auth.ts';
import { findAdminUserByName } from '../store/admin-users.ts';
import { clearFailures, readFailures, recordFailure } from '../store/login-failures.ts';
import { revokeSession } from '../store/revoked-sessions.ts';
import type { AppDeps, AppEnv } from '../types.ts';

export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export const LoginSchema = z
  .object({
    username: z.string().max(64),
    password: z.string().max(MAX_PASSWORD_LENGTH),
  })
  .strict();

type UserPrincipal = Extract<AdminPrincipal, { kind: 'user' }>;

// Both throttles share one window length, so one cleanup of the table serves both.
const WINDOW_MS = Math.max(USER_THROTTLE.windowMs, ADDRESS_THROTTLE.windowMs);

async function sessionBody(codec: SessionCodec, p: UserPrincipal): Promise<Session> {
  return {
    user: { id: p.id, username: p.username, role: p.role },
    csrf_token: await codec.csrfToken(p.sid),
    expires_at: p.exp * 1000,
  };
}

export function sessionApp(deps: AppDeps, sessions: SessionKeys): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const addressOf = (c: Context<AppEnv>) => deps.clientAddress?.(c) ?? 'unknown';

  app.post('/', async (c) => {
    const body = await readJson(c, LoginSchema);
    c.set('loginName', body.username);
    const at = now();
    const userKey = userThrottleKey(body.username);
    const addrKey = addressThrottleKey(addressOf(c));
    const counts = await readFailures(deps.db, [userKey, addrKey]);
    const waitMs = Math.max(
      retryAfterMs(counts.get(userKey), USER_THROTTLE, at),
      retryAfterMs(counts.get(addrKey), ADDRESS_THROTTLE, at),
    );
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      throw new ApiError(
        429,
        'rate_limit_error',
        `too many failed logins; try again in ${seconds} s`,
        'login_throttled',
        null,
        { headers: { 'retry-after': String(seconds) } },
      );
    }

    const user = USERNAME_PATTERN.test(body.username)
      ? await findAdminUserByName(deps.db, body.username)
      : undefined;
    // An unknown user costs the same hashing as a wrong password.
    const ok = user
      ? await verifyPassword(body.password, user.passwordHash)
      : (await verifyAgainstDecoy(body.password), false);
    if (!user || !ok) {
      await recordFailure(deps.db, [userKey, addrKey], WINDOW_MS, at);
      throw unauthorized('wrong username or password', 'invalid_credentials');
    }
    await clearFailures(deps.db, userKey);

    const codec = await sessions();
    const { token, claims } = await codec.issue(user.id, at);
    const principal: UserPrincipal = {
      kind: 'user',
      id: user.id,
      username: user.username,
      role: user.role,
      sid: claims.sid,
      exp: claims.exp,
    };
    c.set('admin', principal);
    setCookie(c, SESSION_COOKIE, token, {
      httpOnly: true,
      secure: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: SESSION_TTL_S,
    });
    return c.json(await sessionBody(codec, principal));
  });

  app.get('/', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie === undefined) throw unauthorized('not signed in', 'missing_session');
    const principal = await sessionPrincipal({ db: deps.db, sessions, now }, cookie);
    if (!principal) {
      throw unauthorized('the session has expired or ended; sign in again', 'invalid_session');
    }
    return c.json(await sessionBody(await sessions(), principal));
  });

  app.delete('/', async (c) => {
    const cookie = getCookie(c, SESSION_COOKIE);
    if (cookie !== undefined) {
      const principal = await sessionPrincipal({ db: deps.db, sessions, now }, cookie);
      if (principal) {
        c.set('admin', principal);
        await revokeSession(deps.db, principal.sid, principal.exp * 1000, now());
      }
    }
    deleteCookie(c, SESSION_COOKIE, {
      path: '/',
      secure: true,
      httpOnly: true,
      sameSite: 'Strict',
    });
    return c.body(null, 204);
  });

  return app;
}
