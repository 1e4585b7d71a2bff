// createApp(deps): the whole gateway as one Hono app on Web-standard APIs, run unchanged
// by the Node host (node.ts) and the Cloudflare host (worker.ts).
//
//   GET  /healthz     public; 200 when the database answers
//   GET  /metrics     Prometheus text (FLEETGATE_METRICS_TOKEN or the admin credentials)
//   /admin/v1/*       admin API (FLEETGATE_ADMIN_TOKEN)
//   /node/v1/*        node control plane (registration token, then node secret)
//   /v1/*             OpenAI API (API keys)
//   /ui/              the dashboard's files (ui/serve.ts); it speaks to /admin/v1
//
// Every response carries x-request-id; every error has OpenAI's shape.
import { sql } from 'drizzle-orm';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { z } from 'zod';
import { adminApp } from './admin/index.ts';
import { apiKeyAuth, createApiKeyCache } from './auth/api-key.ts';
import { nodeApiApp } from './control-plane/node-api.ts';
import { createReconciler } from './control-plane/reconcile.ts';
import { ApiError, notFound, unavailable, type ErrorType } from './errors.ts';
import { zodIssueToError } from './lib/json-body.ts';
import { accessLog } from './middleware/access-log.ts';
import { bodyLimit } from './middleware/body-limit.ts';
import { corsFor } from './middleware/cors.ts';
import { requestId } from './middleware/request-id.ts';
import { sessionKeys } from './console/session-keys.ts';
import { GatewayMetrics } from './metrics/gateway-metrics.ts';
import { metricsApp } from './metrics/route.ts';
import { createLimitGate } from './limits/gate.ts';
import { createMemoryLimiter } from './limits/memory.ts';
import { createPriceBook } from './limits/prices.ts';
import { keyInfoApp } from './openai/key.ts';
import { DEFAULT_MAX_AUDIO_BYTES } from './openai/audio.ts';
import { openaiApp } from './openai/index.ts';
import { LiveStats } from './routing/live.ts';
import { usageTotals } from './store/usage.ts';
import type { AppDeps, AppEnv } from './types.ts';
import { uiApp } from './ui/serve.ts';

const HEALTH_TIMEOUT_MS = 5000;

// The error type OpenAI's SDKs expect for a status that Hono raised itself.
function typeForStatus(status: number): ErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 409) return 'conflict_error';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'service_unavailable';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

function toApiError(err: unknown, c: Context<AppEnv>): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof z.ZodError) return zodIssueToError(err);
  if (err instanceof HTTPException) {
    const status = err.status;
    return new ApiError(
      status,
      typeForStatus(status),
      err.message || `HTTP ${status}`,
      `http_${status}`,
    );
  }
  // Anything else is a bug or an outage: logged with the request id, never shown.
  console.error(
    `request ${c.get('requestId') ?? '-'} ${c.req.method} ${c.req.path} failed:`,
    err instanceof Error ? (err.stack ?? err.message) : err,
  );
  return new ApiError(
    500,
    'server_error',
    `the gateway failed to handle this request; quote request id ${c.get('requestId') ?? 'unknown'} when reporting it`,
    'internal_error',
  );
}

function errorResponse(c: Context<AppEnv>, error: ApiError): Response {
  c.set('errorCode', error.code ?? undefined);
  for (const [name, value] of Object.entries(error.headers ?? {})) c.header(name, value);
  return c.json(error.body(), error.status);
}

export function createApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const keyCache = createApiKeyCache(deps);
  const prices = createPriceBook(deps.db, { ttlMs: deps.config.cacheTtlMs, now });
  const limiter =
    deps.limiter ??
    createMemoryLimiter({
      usage: deps.usage,
      loadUsage: (keyId, start, end) => usageTotals(deps.db, keyId, start, end),
    });
  // Observed where the limit gate finishes each request, never per chunk.
  const metrics = new GatewayMetrics({ keyLabel: deps.config.metricsKeyLabel });
  const gate = createLimitGate({
    observer: metrics,
    limiter,
    prices,
    defaultMaxTokens: deps.config.defaultMaxTokens,
    now,
  });
  const reconciler = createReconciler(deps.db, {
    heartbeatIntervalS: deps.config.heartbeatIntervalS,
    now,
  });

  app.use('*', requestId());
  if (deps.accessLog) app.use('*', accessLog({ write: deps.accessLog, now }));
  const maxAudioBytes = deps.config.maxAudioBytes ?? DEFAULT_MAX_AUDIO_BYTES;
  app.use(
    '*',
    bodyLimit({
      maxBytes: deps.config.maxBodyBytes,
      maxBytesByPath: {
        '/v1/audio/transcriptions': maxAudioBytes,
        '/v1/audio/translations': maxAudioBytes,
      },
    }),
  );

  app.get('/healthz', async (c) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        deps.db.run(sql`select 1`),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), HEALTH_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      console.error(
        'health check: database unreachable:',
        err instanceof Error ? err.message : err,
      );
      throw unavailable('the gateway cannot reach its database', 'database_unreachable');
    } finally {
      clearTimeout(timer);
    }
    // Usage not yet written and usage lost, where the host buffers it (the Node host).
    const usage = deps.usage.stats?.();
    return c.json(usage ? { status: 'ok', usage } : { status: 'ok' });
  });

  // The gateway's own figures per instance (in flight, circuit breakers), shared by the
  // router and the admin API.
  const live = new LiveStats({ now });
  const sessions = sessionKeys(deps.db, deps.sessionSecret);
  app.route('/metrics', metricsApp(deps, { metrics, sessions }));
  app.route('/admin/v1', adminApp(deps, { keyCache, reconciler, live, prices, limiter, sessions }));
  app.route('/node/v1', nodeApiApp(deps, reconciler));
  const cors = corsFor(deps.config.corsOrigins);
  if (cors) app.use('/v1/*', cors);
  app.use('/v1/*', apiKeyAuth(deps, { cache: keyCache }));
  app.route('/v1', keyInfoApp({ limiter, now }));
  app.route('/v1', openaiApp(deps, live, gate));
  app.route('/', uiApp(deps.uiAssets));

  app.notFound((c) => {
    const error = notFound(`no route for ${c.req.method} ${c.req.path}`, 'unknown_url');
    return errorResponse(c, error);
  });
  app.onError((err, c) => errorResponse(c, toApiError(err, c)));

  return app;
}
