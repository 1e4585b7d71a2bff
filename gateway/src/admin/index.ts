// The admin API (/admin/v1), one sub-app per resource, all behind the admin token.
import { Hono } from 'hono';
import { adminAuth } from '../middleware/admin-auth.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { deploymentsApp } from './deployments.ts';
import { keysApp } from './keys.ts';
import { nodesApp } from './nodes.ts';
import { registrationTokensApp } from './registration-tokens.ts';
import { usageApp } from './usage.ts';

export function adminApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.use('*', adminAuth({ token: deps.config.adminToken }));
  app.route('/keys', keysApp(deps, ctx));
  app.route('/registration-tokens', registrationTokensApp(deps));
  app.route('/nodes', nodesApp(deps, ctx));
  app.route('/deployments', deploymentsApp(deps, ctx));
  app.route('/usage', usageApp(deps));
  return app;
}
