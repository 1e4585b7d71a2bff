// Guards the admin API with one bearer token (FLEETGATE_ADMIN_TOKEN). The presented token
// and the configured one are compared as SHA-256 digests in constant time, so neither the
// position of the first wrong character nor the token's length leaks through timing.
import type { MiddlewareHandler } from 'hono';
import { bearerToken, digestsEqual, sha256Bytes } from '../auth/secrets.ts';
import { unauthorized } from '../errors.ts';
import type { AppEnv } from '../types.ts';

export function adminAuth(options: { token: string }): MiddlewareHandler<AppEnv> {
  if (options.token.length < 16) {
    throw new Error('adminAuth: the admin token must be at least 16 characters');
  }
  const expected = sha256Bytes(options.token);

  return async function adminAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined) {
      throw unauthorized(
        'missing admin token: send Authorization: Bearer <FLEETGATE_ADMIN_TOKEN>',
        'missing_admin_token',
      );
    }
    if (token === null) {
      throw unauthorized(
        "malformed Authorization header: expected 'Bearer <admin token>'",
        'invalid_admin_token',
      );
    }
    if (!digestsEqual(await sha256Bytes(token), await expected)) {
      throw unauthorized('invalid admin token', 'invalid_admin_token');
    }
    await next();
  };
}
