// Console users, sessions, CSRF, roles, login throttling and the audit log, through the whole
// app (createApp over a real libSQL file) as a browser and the CLI would call it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdminUserListSchema,
  AdminUserSchema,
  AuditLogPageSchema,
  CreatedApiKeySchema,
  DeletedAdminUserSchema,
  SessionSchema,
  type Session,
} from '../../schema/admin.ts';
import { headerClientAddress } from '../../gateway/src/console/client-address.ts';
import {
  ADMIN_TOKEN,
  expectError,
  parseExact,
  startGatewayHarness,
  type GatewayHarness,
  type Result,
} from '../support/gateway-harness.ts';

const PASSWORD = 'a long enough password';

interface SignedIn {
  cookie: string;
  session: Session;
  setCookie: string;
}

describe('console users and sessions', () => {
  let h: GatewayHarness;
  let addressSeq = 0;
  // Each login comes from its own address unless a test says otherwise, so the per-address
  // throttle of one test does not spill into another.
  const freshAddress = () => `192.0.2.${++addressSeq}`;

  beforeAll(async () => {
    h = await startGatewayHarness({ clientAddress: headerClientAddress('x-forwarded-for') });
  });
  afterAll(async () => {
    await h.close();
  });

  async function createUser(username: string, role: 'admin' | 'viewer') {
    const res = await h.adminOk(AdminUserSchema, 'POST', '/users', {
      username,
      password: PASSWORD,
      role,
    });
    expect(res.status).toBe(201);
    return res.body;
  }

  function login(username: string, password = PASSWORD, address = freshAddress()) {
    return h.call('POST', '/admin/v1/session', {
      body: { username, password },
      headers: { 'x-forwarded-for': `10.9.9.9, ${address}` },
    });
  }

  async function signIn(username: string): Promise<SignedIn> {
    const res = await login(username);
    expect(res.status).toBe(200);
    const session = parseExact(SessionSchema, res.body);
    const setCookie = res.headers.get('set-cookie') ?? '';
    const cookie = /^(fleetgate_session=[^;]+)/.exec(setCookie)?.[1] ?? '';
    expect(cookie).not.toBe('');
    return { cookie, session, setCookie };
  }

  // A call with a session cookie (and its CSRF token unless told otherwise).
  function asUser(
    s: SignedIn,
    method: string,
    path: string,
    opts: { body?: unknown; csrf?: string | null } = {},
  ): Promise<Result<unknown>> {
    const headers: Record<string, string> = { cookie: s.cookie };
    const csrf = opts.csrf === undefined ? s.session.csrf_token : opts.csrf;
    if (csrf !== null) headers['x-csrf-token'] = csrf;
    return h.call(method, `/admin/v1${path}`, { headers, body: opts.body });
  }

  it('creates, lists and deletes users with the admin token; never answers a password', async () => {
    const user = await createUser('Alice', 'admin');
    expect(user.id).toMatch(/^user_/);
    expectError(
      await h.admin('POST', '/users', { username: 'alice', password: PASSWORD, role: 'admin' }),
      409,
      'username_taken',
    );
    const short = expectError(
      await h.admin('POST', '/users', { username: 'bob', password: 'short', role: 'viewer' }),
      400,
    );
    expect(short.param).toBe('password');
    const role = expectError(
      await h.admin('POST', '/users', { username: 'bob', password: PASSWORD, role: 'root' }),
      400,
    );
    expect(role.param).toBe('role');
    const name = expectError(
      await h.admin('POST', '/users', {
        username: 'has space',
        password: PASSWORD,
        role: 'viewer',
      }),
      400,
    );
    expect(name.param).toBe('username');

    const list = await h.adminOk(AdminUserListSchema, 'GET', '/users');
    expect(list.body.data.map((u) => u.username)).toContain('Alice');
    expect(JSON.stringify(list.body)).not.toContain('pbkdf2');

    const temp = await createUser('temp', 'viewer');
    await h.adminOk(DeletedAdminUserSchema, 'DELETE', `/users/${temp.id}`);
    expectError(await h.admin('DELETE', `/users/${temp.id}`), 404, 'user_not_found');
  });

  it('signs in with a cookie holding a JWT, reads the session, and serves the admin API', async () => {
    await createUser('carol', 'admin');
    expectError(await login('carol', 'a wrong password here'), 401, 'invalid_credentials');
    expectError(await login('nobody-here'), 401, 'invalid_credentials');

    const s = await signIn('CAROL');
    expect(s.session.user).toMatchObject({ username: 'carol', role: 'admin' });
    expect(s.session.expires_at).toBeGreaterThan(h.clock.now());
    const attrs = s.setCookie.split(';').map((a) => a.trim().toLowerCase());
    expect(attrs).toEqual(
      expect.arrayContaining(['httponly', 'secure', 'samesite=strict', 'path=/']),
    );
    // The cookie is a JWT (header.payload.signature).
    expect(s.cookie.split('=')[1]?.split('.')).toHaveLength(3);

    const again = await h.callOk(SessionSchema, 'GET', '/admin/v1/session', {
      headers: { cookie: s.cookie },
    });
    expect(again.body).toEqual(s.session);
    expect((await asUser(s, 'GET', '/keys')).status).toBe(200);

    expectError(await h.call('GET', '/admin/v1/session'), 401, 'missing_session');
    const forged = `${s.cookie.slice(0, -4)}AAAA`;
    expectError(
      await h.call('GET', '/admin/v1/keys', { headers: { cookie: forged } }),
      401,
      'invalid_session',
    );
  });

  it('needs the CSRF token of the same session for every change made with a cookie', async () => {
    await createUser('dave', 'admin');
    const s = await signIn('dave');
    const other = await signIn('dave');
    expect(other.session.csrf_token).not.toBe(s.session.csrf_token);

    const body = { name: 'from the console' };
    expectError(await asUser(s, 'POST', '/keys', { body, csrf: null }), 403, 'csrf_token_invalid');
    expectError(
      await asUser(s, 'POST', '/keys', { body, csrf: 'nonsense' }),
      403,
      'csrf_token_invalid',
    );
    expectError(
      await asUser(s, 'POST', '/keys', { body, csrf: other.session.csrf_token }),
      403,
      'csrf_token_invalid',
    );
    const made = await asUser(s, 'POST', '/keys', { body });
    expect(made.status).toBe(201);
    parseExact(CreatedApiKeySchema, made.body);
    // The admin token needs no CSRF token: it is not sent by browsers on their own.
    expect((await h.admin('POST', '/keys', body)).status).toBe(201);
  });

  it('answers 403 to a viewer on every mutation route of the admin API', async () => {
    await createUser('vera', 'viewer');
    const s = await signIn('vera');
    expect((await asUser(s, 'GET', '/keys')).status).toBe(200);
    expect((await asUser(s, 'GET', '/users')).status).toBe(200);

    const mutations = h.app.routes
      .filter((r) => r.path.startsWith('/admin/v1/') && r.path !== '/admin/v1/session')
      .filter((r) => !['GET', 'HEAD', 'OPTIONS', 'ALL'].includes(r.method));
    const routes = [...new Set(mutations.map((r) => `${r.method} ${r.path}`))];
    // The admin API's resources are all here (a route added later is covered by this loop).
    for (const expected of [
      'POST /admin/v1/keys',
      'DELETE /admin/v1/users/:id',
      'POST /admin/v1/users',
    ]) {
      expect(routes).toContain(expected);
    }
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const [method = '', pattern = ''] = route.split(' ');
      const path = pattern.replace(/:[A-Za-z_]+(\{[^}]*\})?/g, 'x').replace('/admin/v1', '');
      const res = await asUser(s, method, path, { body: {} });
      expect({ route, status: res.status }).toEqual({ route, status: 403 });
      expectError(res, 403, 'forbidden');
    }
  });

  it('ends a session on logout, and with its user', async () => {
    const user = await createUser('erin', 'admin');
    const s = await signIn('erin');
    const out = await asUser(s, 'DELETE', '/session');
    expect(out.status).toBe(204);
    expect(out.headers.get('set-cookie')).toMatch(/fleetgate_session=;.*Max-Age=0/i);
    expectError(await asUser(s, 'GET', '/keys'), 401, 'invalid_session');

    const s2 = await signIn('erin');
    expect((await asUser(s2, 'GET', '/keys')).status).toBe(200);
    await h.adminOk(DeletedAdminUserSchema, 'DELETE', `/users/${user.id}`);
    expectError(await asUser(s2, 'GET', '/keys'), 401, 'invalid_session');
  });

  it('ends a session when it expires', async () => {
    await createUser('fred', 'viewer');
    const s = await signIn('fred');
    h.clock.advance(s.session.expires_at - h.clock.now() + 1000);
    expectError(await asUser(s, 'GET', '/keys'), 401, 'invalid_session');
  });

  it('throttles failed logins per user, even with the right password, until the window ends', async () => {
    await createUser('gina', 'admin');
    for (let i = 0; i < 5; i++) {
      expectError(await login('gina', 'not the password!'), 401, 'invalid_credentials');
    }
    const refused = await login('gina');
    expectError(refused, 429, 'login_throttled');
    const wait = Number(refused.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(15 * 60);
    h.clock.advance(wait * 1000);
    expect((await login('gina')).status).toBe(200);
  });

  it('throttles failed logins per client address, whatever usernames it tries', async () => {
    await createUser('hank', 'admin');
    const guesser = freshAddress();
    for (let i = 0; i < 20; i++) {
      expectError(await login(`guess-${i}`, 'a guessed password', guesser), 401);
    }
    expectError(await login('hank', PASSWORD, guesser), 429, 'login_throttled');
    // Another address is not affected, nor is the user.
    expect((await login('hank', PASSWORD, freshAddress())).status).toBe(200);
  });

  it('records every admin mutation in the audit log, who, what, from where and how it ended', async () => {
    await createUser('ivy', 'admin');
    await createUser('ivan', 'viewer');
    const address = freshAddress();
    expectError(await login('ivy', 'not the password!', address), 401);
    const s = await signIn('ivy');
    const key = await asUser(s, 'POST', '/keys', { body: { name: 'audited' } });
    const keyId = parseExact(CreatedApiKeySchema, key.body).id;
    expect((await asUser(s, 'DELETE', `/keys/${keyId}`)).status).toBe(200);
    const viewer = await signIn('ivan');
    expect((await asUser(viewer, 'POST', '/keys', { body: { name: 'nope' } })).status).toBe(403);
    // A request without credentials is refused and not recorded.
    expect((await h.call('POST', '/admin/v1/keys', { body: { name: 'anon' } })).status).toBe(401);

    const page = await h.callOk(AuditLogPageSchema, 'GET', '/admin/v1/audit-log?limit=7', {
      token: ADMIN_TOKEN,
    });
    const [denied, viewerIn, deleted, created, signedIn, failed] = page.body.data;
    expect(viewerIn).toMatchObject({ route: '/admin/v1/session', actor_name: 'ivan' });
    expect(denied).toMatchObject({
      actor: 'user',
      actor_name: 'ivan',
      method: 'POST',
      route: '/admin/v1/keys',
      status: 403,
    });
    expect(deleted).toMatchObject({
      actor: 'user',
      actor_name: 'ivy',
      method: 'DELETE',
      route: '/admin/v1/keys/:id',
      resource_id: keyId,
      status: 200,
    });
    expect(created).toMatchObject({ route: '/admin/v1/keys', resource_id: keyId, status: 201 });
    expect(signedIn).toMatchObject({ route: '/admin/v1/session', status: 200, actor_name: 'ivy' });
    expect(failed).toMatchObject({
      actor: 'anonymous',
      actor_name: 'ivy',
      route: '/admin/v1/session',
      status: 401,
      client_address: address,
    });
    expect(created?.request_id).toBeTruthy();
    expect(page.body.has_more).toBe(true);
    expect(JSON.stringify(page.body)).not.toContain('not the password');

    // Paging: the next page starts below the last id of this one.
    const last = page.body.data.at(-1)?.id ?? 0;
    const next = await h.callOk(
      AuditLogPageSchema,
      'GET',
      `/admin/v1/audit-log?limit=2&before=${last}`,
      { token: ADMIN_TOKEN },
    );
    expect(next.body.data.every((e) => e.id < last)).toBe(true);
    const tokenEntry = (
      await h.callOk(AuditLogPageSchema, 'GET', '/admin/v1/audit-log?limit=1000', {
        token: ADMIN_TOKEN,
      })
    ).body.data.find((e) => e.actor === 'admin-token' && e.route === '/admin/v1/users');
    expect(tokenEntry).toMatchObject({ method: 'POST', status: 201 });
    expect(tokenEntry?.resource_id).toMatch(/^user_/);
    expectError(await h.admin('GET', '/audit-log?limit=0'), 400);
  });
});
