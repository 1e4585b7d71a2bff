// GET /metrics: the gateway's Prometheus metrics, for the metrics token
// (FLEETGATE_METRICS_TOKEN) or the admin credentials (the admin token, a console session).
import { Hono } from 'hono';
import { bearerToken, digestsEqual, sha256Bytes } from '../auth/secrets.ts';
import type { SessionKeys } from '../console/session-keys.ts';
import { adminAuth } from '../middleware/admin-auth.ts';
import { countInstancesByState } from '../store/instances.ts';
import { countNodesByLiveness } from '../store/nodes.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { GatewayMetrics } from './gateway-metrics.ts';

export function metricsApp(
  deps: AppDeps,
  opts: { metrics: GatewayMetrics; sessions: SessionKeys },
): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;
  const metricsToken = deps.config.metricsToken;
  const expected = metricsToken === undefined ? undefined : sha256Bytes(metricsToken);
  const admin = adminAuth({
    token: deps.config.adminToken,
    db: deps.db,
    sessions: opts.sessions,
    now,
  });

  app.get('/', async (c, next) => {
    const token = bearerToken(c.req.header('authorization'));
    if (expected && typeof token === 'string') {
      if (digestsEqual(await sha256Bytes(token), await expected)) return next();
    }
    return admin(c, next);
  });
  app.get('/', async (c) => {
    const [nodes, instances] = await Promise.all([
      countNodesByLiveness(deps.db, now(), deps.config.heartbeatIntervalS),
      countInstancesByState(deps.db),
    ]);
    const text = opts.metrics.render({ nodes, instances, usage: deps.usage.stats?.() });
    return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
  return app;
}
