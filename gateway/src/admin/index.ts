// The admin API (/admin/v1), one sub-app per resource, all behind the admin token or a
// console session (whose changes need its CSRF token and the admin role); its OpenAPI
// document and docs page too, unless FLEETGATE_API_DOCS makes them public or off. Every
// mutation is recorded in the audit log by one middleware around all of it.
import { Hono } from 'hono';
import { adminAuth, adminPermissions } from '../middleware/admin-auth.ts';
import { audit } from '../middleware/audit.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import type { AdminContext } from './context.ts';
import { apiDocsApp } from './api-docs.ts';
import { auditLogApp } from './audit-log.ts';
import { deploymentsApp } from './deployments.ts';
import { keysApp } from './keys.ts';
import { nodesApp } from './nodes.ts';
import { pricesApp } from './prices.ts';
import { registrationTokensApp } from './registration-tokens.ts';
import { statsApp } from './stats.ts';
import { sessionApp } from './session.ts';
import { usageApp } from './usage.ts';
import { usersApp } from './users.ts';

export function adminApp(deps: AppDeps, ctx: AdminContext): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const docs = deps.config.apiDocs ?? 'admin';
  const now = deps.now ?? Date.now;
  app.use(
    '*',
    audit({
      db: deps.db,
      now,
      clientAddress: (c) => deps.clientAddress?.(c),
      anonymousRoutes: ['/admin/v1/session'],
    }),
  );
  // Routes added before the auth middleware answer without it.
  if (docs === 'public') app.route('/', apiDocsApp({ docsPublic: true }));
  app.route('/session', sessionApp(deps, ctx.sessions));
  app.use(
    '*',
    adminAuth({ token: deps.config.adminToken, db: deps.db, sessions: ctx.sessions, now }),
  );
  app.use('*', adminPermissions({ sessions: ctx.sessions }));
  if (docs === 'admin') app.route('/', apiDocsApp({ docsPublic: false }));
  app.route('/keys', keysApp(deps, ctx));
  app.route('/registration-tokens', registrationTokensApp(deps));
  app.route('/nodes', nodesApp(deps, ctx));
  app.route('/deployments', deploymentsApp(deps, ctx));
  app.route('/usage', usageApp(deps));
  app.route('/stats', statsApp(deps));
  app.route('/prices', pricesApp(deps, ctx));
  app.route('/users', usersApp(deps));
  app.route('/audit-log', auditLogApp(deps));
  return app;
}
