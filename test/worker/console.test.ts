// Console users inside workerd: PBKDF2 at its parameters (the Workers cap), a login whose
// session secret the Worker generated into D1, a change made with the cookie and its CSRF
// token, and the audit log with the address Cloudflare reports (cf-connecting-ip).
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  AdminUserSchema,
  AuditLogPageSchema,
  CreatedApiKeySchema,
  SessionSchema,
} from '../../schema/admin.ts';

const ORIGIN = 'http://fleetgate.test';

async function call(
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: unknown } = {},
) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await exports.default.fetch(`${ORIGIN}/admin/v1${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as unknown) : null,
  };
}

const asAdmin = { authorization: `Bearer ${env.FLEETGATE_ADMIN_TOKEN}` };

describe('console sessions on the Worker host', () => {
  it('signs a user in and takes a change made with the cookie and its CSRF token', async () => {
    const made = await call('POST', '/users', {
      headers: asAdmin,
      body: { username: 'worker-admin', password: 'a long worker password', role: 'admin' },
    });
    expect(made.status).toBe(201);
    AdminUserSchema.parse(made.body);

    const address = '203.0.113.7';
    const wrong = await call('POST', '/session', {
      headers: { 'cf-connecting-ip': address },
      body: { username: 'worker-admin', password: 'not the password' },
    });
    expect(wrong.status).toBe(401);
    const login = await call('POST', '/session', {
      headers: { 'cf-connecting-ip': address },
      body: { username: 'worker-admin', password: 'a long worker password' },
    });
    expect(login.status).toBe(200);
    const session = SessionSchema.parse(login.body);
    const cookie = /^(fleetgate_session=[^;]+)/.exec(login.headers.get('set-cookie') ?? '')?.[1];
    expect(cookie).toBeTruthy();
    const headers = { cookie: cookie ?? '', 'cf-connecting-ip': address };

    const noCsrf = await call('POST', '/keys', { headers, body: { name: 'console key' } });
    expect(noCsrf.status).toBe(403);
    const key = await call('POST', '/keys', {
      headers: { ...headers, 'x-csrf-token': session.csrf_token },
      body: { name: 'console key' },
    });
    expect(key.status).toBe(201);
    const keyId = CreatedApiKeySchema.parse(key.body).id;

    const audit = await call('GET', '/audit-log?limit=10', { headers: asAdmin });
    const entries = AuditLogPageSchema.parse(audit.body).data;
    expect(entries.find((e) => e.resource_id === keyId && e.status === 201)).toMatchObject({
      actor: 'user',
      actor_name: 'worker-admin',
      route: '/admin/v1/keys',
      client_address: address,
    });
    expect(entries.find((e) => e.status === 401)).toMatchObject({ actor: 'anonymous' });
  });

  it('serves /metrics to the admin token, with the fleet read from D1', async () => {
    expect((await exports.default.fetch(`${ORIGIN}/metrics`)).status).toBe(401);
    const res = await exports.default.fetch(`${ORIGIN}/metrics`, { headers: asAdmin });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE fleetgate_nodes gauge$/m);
    expect(text).toMatch(/^fleetgate_instances\{state="ready"\} \d+$/m);
  });
});
