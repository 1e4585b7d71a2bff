// The admin API (/admin/v1), one sub-app per resource, all behind the admin token; its
// OpenAPI document and docs page too, unless FLEETGATE_API_DOCS makes them public or off.
import { Hono } from 'hono';
import { adminAuth } from '../middleware/admin-auth.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { apiDocsApp } from './api-docs.ts';
import { deploymentsApp } from './deployments.ts';
import { keysApp } from './keys.ts';
import { nodesApp } from './nodes.ts';
import { pricesApp } from './prices.ts';
import { registrationTokensApp } from './registration-tokens.ts';
import { statsApp } from './stats.ts';
import { usageApp } from './usage.ts';

export function adminApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const docs = deps.config.apiDocs ?? 'admin';
  // Routes added before the auth middleware answer without it.
  if (docs === 'public') app.route('/', apiDocsApp({ docsPublic: true }));
  app.use('*', adminAuth({ token: deps.config.adminToken }));
  if (docs === 'admin') app.route('/', apiDocsApp({ docsPublic: false }));
  app.route('/keys', keysApp(deps, ctx));
  app.route('/registration-tokens', registrationTokensApp(deps));
  app.route('/nodes', nodesApp(deps, ctx));
  app.route('/deployments', deploymentsApp(deps, ctx));
  app.route('/usage', usageApp(deps));
  app.route('/stats', statsApp(deps));
  app.route('/prices', pricesApp(deps, ctx));
  return app;
}
