// CORS for /v1, so that a browser app can use the OpenAI SDK (dangerouslyAllowBrowser) with
// a fleetgate key. Off unless origins are configured (FLEETGATE_CORS_ORIGINS); never mounted
// on /admin/v1 or /node/v1. Requests carry a bearer key, never cookies, so credentials stay
// off, and the preflight allows whatever headers the SDK asks for (its x-stainless-* set
// changes between versions).
import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AppEnv } from '../types.ts';

// What a browser app may read from an answer: ids for support requests, and the limits.
export const CORS_EXPOSED_HEADERS = [
  'x-request-id',
  'x-client-request-id',
  'x-ratelimit-limit-requests',
  'x-ratelimit-remaining-requests',
  'x-ratelimit-reset-requests',
  'x-ratelimit-limit-tokens',
  'x-ratelimit-remaining-tokens',
  'x-ratelimit-reset-tokens',
  'retry-after',
];

// Browsers cache a preflight this long (seconds); Chromium caps it at 2 hours.
export const CORS_MAX_AGE_S = 7200;

export function corsFor(
  origins: readonly string[] | '*' | undefined,
): MiddlewareHandler<AppEnv> | undefined {
  if (origins === undefined || (origins !== '*' && origins.length === 0)) return undefined;
  return cors({
    origin: origins === '*' ? '*' : [...origins],
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    exposeHeaders: CORS_EXPOSED_HEADERS,
    maxAge: CORS_MAX_AGE_S,
    credentials: false,
  });
}
