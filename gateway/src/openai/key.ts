// GET /v1/key: a key holder's view of their own key (authenticated by the key itself): its
// models and limits, and its usage in the current budget period with what remains and
// when each limit resets.
import { Hono, type MiddlewareHandler } from 'hono';
import { rateLimitHeaders } from '../limits/answers.ts';
import type { Limiter } from '../limits/limiter.ts';
import { limitsView, standingView } from '../limits/wire.ts';
import type { AppEnv } from '../types.ts';

export function keyInfoApp(deps: { limiter: Limiter; now: () => number }): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // The model listing carries the key's per-minute figures too, as every /v1 answer does
  // (the inference endpoints set them at admission, GET /v1/key below).
  const withRateHeaders: MiddlewareHandler<AppEnv> = async function withRateHeaders(c, next) {
    await next();
    const key = c.get('apiKey');
    if (key.limits.requestsPerMinute === null && key.limits.tokensPerMinute === null) return;
    const snapshot = await deps.limiter.inspect({ id: key.id, limits: key.limits }, deps.now());
    for (const [name, value] of Object.entries(rateLimitHeaders(snapshot.rate))) {
      c.res.headers.set(name, value);
    }
  };
  app.use('/models', withRateHeaders);
  app.use('/models/*', withRateHeaders);
  app.get('/key', async (c) => {
    const key = c.get('apiKey');
    const at = deps.now();
    const snapshot = await deps.limiter.inspect({ id: key.id, limits: key.limits }, at);
    for (const [name, value] of Object.entries(rateLimitHeaders(snapshot.rate))) {
      c.header(name, value);
    }
    return c.json({
      id: key.id,
      object: 'api_key' as const,
      name: key.name,
      models: key.models,
      limits: limitsView(key.limits),
      ...standingView(snapshot, at),
    });
  });
  return app;
}
