// Authenticates /v1 requests by API key (`Authorization: Bearer sk-fg-...`): the key is
// looked up by the SHA-256 of the secret through a short-lived cache (at most one database
// read per request, none on a hit), and must be enabled and unexpired. Sets c.var.apiKey.
import type { MiddlewareHandler } from 'hono';
import { unauthorized } from '../errors.ts';
import { runInBackground } from '../lib/background.ts';
import { findKeyByHash, markKeyUsed } from '../store/api-keys.ts';
import { DB_TIMEOUT_MS, withDbTimeout } from '../store/timeout.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import { createKeyCache, type KeyCache } from './key-cache.ts';
import { bearerToken, displayPrefix, hashSecret, looksLike } from './secrets.ts';

// last_used_at is written at most this often per key (and per cache period), off the
// request path, so a busy key does not turn every request into a write.
const MIN_LAST_USED_INTERVAL_MS = 1000;
const MAX_TRACKED_KEYS = 10_000;

export function createApiKeyCache(deps: AppDeps): KeyCache {
  return createKeyCache({
    ttlMs: deps.config.cacheTtlMs,
    load: (keyHash) =>
      withDbTimeout(
        findKeyByHash(deps.db, keyHash),
        deps.dbTimeoutMs ?? DB_TIMEOUT_MS,
        'API key lookup',
      ),
    now: deps.now ?? Date.now,
  });
}

export function apiKeyAuth(
  deps: AppDeps,
  opts: { cache?: KeyCache } = {},
): MiddlewareHandler<AppEnv> {
  const now = deps.now ?? Date.now;
  const cache = opts.cache ?? createApiKeyCache(deps);
  const hash = deps.hashSecret ?? hashSecret;
  const lastUsedIntervalMs = Math.max(deps.config.cacheTtlMs, MIN_LAST_USED_INTERVAL_MS);
  const lastWritten = new Map<string, number>();

  function noteUse(id: string, at: number): Promise<void> | undefined {
    const previous = lastWritten.get(id);
    if (previous !== undefined && at - previous < lastUsedIntervalMs) return undefined;
    lastWritten.delete(id);
    lastWritten.set(id, at);
    if (lastWritten.size > MAX_TRACKED_KEYS) {
      const oldest = lastWritten.keys().next();
      if (!oldest.done) lastWritten.delete(oldest.value);
    }
    return markKeyUsed(deps.db, id, at);
  }

  return async function apiKeyAuthMiddleware(c, next) {
    const token = bearerToken(c.req.header('authorization'));
    if (token === undefined) {
      throw unauthorized(
        'missing API key: send it as Authorization: Bearer sk-fg-... (keys are created with the admin API)',
      );
    }
    if (token === null) {
      throw unauthorized("malformed Authorization header: expected 'Bearer <API key>'");
    }
    if (!looksLike('apiKey', token)) {
      throw unauthorized('invalid API key: fleetgate API keys start with sk-fg-');
    }
    const key = await cache.get(await hash(token));
    if (!key) {
      throw unauthorized(
        `incorrect API key provided: ${displayPrefix(token)}****; it does not exist or was revoked`,
      );
    }
    if (key.disabled) throw unauthorized('this API key is disabled');
    const at = now();
    if (key.expiresAt !== null && key.expiresAt <= at) {
      throw unauthorized(
        `this API key expired at ${new Date(key.expiresAt).toISOString()}`,
        'expired_api_key',
      );
    }
    c.set('apiKey', { id: key.id, name: key.name, models: key.models, limits: key.limits });
    const write = noteUse(key.id, at);
    if (write) runInBackground(c, write, 'api key last_used_at');
    await next();
  };
}
