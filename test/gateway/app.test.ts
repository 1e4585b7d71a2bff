// The whole gateway app (createApp) over a real, migrated libSQL file, driven through
// app.request(): admin API, node API, API-key auth, errors, limits and request ids. Nodes
// are played by the test (register and heartbeat as the daemon does) or, where the gateway
// calls a node, by real HTTP servers on 127.0.0.1.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { eq } from 'drizzle-orm';
import type { Hono } from 'hono';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DATA_PLANE_JWT_ISSUER,
  type HeartbeatResponse,
  type RegisterResponse,
} from '../../schema/contracts.ts';
import { apiKeys, deploymentInstances, nodes, usageEvents } from '../../schema/db.ts';
import { createApp } from '../../gateway/src/app.ts';
import { hashSecret } from '../../gateway/src/auth/secrets.ts';
import { directTransport } from '../../gateway/src/proxy/transport.ts';
import { createSigner, generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import {
  ENGINE_USAGE,
  startFakeEngine,
  type FakeEngine,
} from '../../gateway/src/testing/fake-engine.ts';
import { createTempDb, type TempDb } from '../../gateway/src/testing/temp-db.ts';
import type { AppDeps, AppEnv, GatewayConfig, Signer } from '../../gateway/src/types.ts';
import { createDirectUsageSink } from '../../gateway/src/usage/sink.ts';

const ADMIN = 'test-admin-token-0123456789';
const HEARTBEAT_S = 5;
const MAX_BODY = 16 * 1024;

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface KeyObject {
  id: string;
  object: string;
  name: string;
  prefix: string;
  models: string[] | null;
  expires_at: number | null;
  disabled: boolean;
  created_at: number;
  last_used_at: number | null;
  key?: string;
}
interface Instance {
  id: string;
  node_id: string;
  replica: number;
  state: string;
  detail: string | null;
  gpu_indices: number[];
}
interface Deployment {
  id: string;
  model: string;
  replicas: number;
  instances: Instance[];
}
interface List<T> {
  object: 'list';
  data: T[];
}

let temp: TempDb;
let signer: Signer;
let app: Hono<AppEnv>;
let clock: number;
let config: GatewayConfig;

function build(db = temp.db): Hono<AppEnv> {
  const deps: AppDeps = {
    db,
    config,
    signer,
    usage: createDirectUsageSink(db),
    transport: directTransport,
    now: () => clock,
  };
  return createApp(deps);
}

beforeAll(async () => {
  temp = await createTempDb();
  signer = await createSigner(await generateSigningJwk());
  config = {
    adminToken: ADMIN,
    maxBodyBytes: MAX_BODY,
    heartbeatIntervalS: HEARTBEAT_S,
    cacheTtlMs: 2000,
    nodeJwtTtlS: 30,
  };
  clock = Date.now();
  app = build();
});

afterAll(async () => {
  await temp.close();
});

interface Result<T> {
  status: number;
  headers: Headers;
  body: T;
}

async function call<T = unknown>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {},
): Promise<Result<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined = opts.raw;
  if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

const admin = <T = unknown>(method: string, path: string, body?: unknown) =>
  call<T>(method, `/admin/v1${path}`, { token: ADMIN, body });

function expectError(res: Result<unknown>, status: number, code?: string): ErrorBody['error'] {
  expect(res.status).toBe(status);
  const { error } = res.body as ErrorBody;
  expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof error.message).toBe('string');
  if (code !== undefined) expect(error.code).toBe(code);
  expect(res.headers.get('x-request-id')).toBeTruthy();
  return error;
}

async function createKey(body: Record<string, unknown> = { name: 'test' }): Promise<KeyObject> {
  const res = await admin<KeyObject>('POST', '/keys', body);
  expect(res.status).toBe(201);
  return res.body;
}

async function registrationToken(body: Record<string, unknown> = {}): Promise<string> {
  const res = await admin<{ token: string }>('POST', '/registration-tokens', body);
  expect(res.status).toBe(201);
  return res.body.token;
}

const nodeBody = (name: string, advertiseUrl = 'http://127.0.0.1:9', gpus = 0) => ({
  name,
  advertise_url: advertiseUrl,
  gpus: Array.from({ length: gpus }, (_, index) => ({
    index,
    name: 'NVIDIA L4',
    memory_total_mib: 23034,
  })),
  daemon_version: 'test',
});

async function registerNode(
  name: string,
  advertiseUrl?: string,
  gpus = 0,
): Promise<RegisterResponse> {
  const token = await registrationToken({ name });
  const res = await call<RegisterResponse>('POST', '/node/v1/register', {
    token,
    body: nodeBody(name, advertiseUrl, gpus),
  });
  expect(res.status).toBe(201);
  return res.body;
}

function heartbeat(secret: string, instances: unknown[] = [], gpus = 0) {
  return call<HeartbeatResponse>('POST', '/node/v1/heartbeat', {
    token: secret,
    body: {
      daemon_version: 'test',
      gpus: nodeBody('x', undefined, gpus).gpus,
      instances,
      in_flight: 0,
      queued: 0,
    },
  });
}

describe('the app shell', () => {
  it('answers /healthz when the database works, without credentials', async () => {
    const res = await call<{ status: string }>('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers /healthz with 503 when the database is gone', async () => {
    const broken = await createTempDb();
    const brokenApp = build(broken.db);
    await broken.close();
    const res = await brokenApp.request('/healthz');
    expect(res.status).toBe(503);
    expect((await res.json<ErrorBody>()).error.code).toBe('database_unreachable');
  });

  it('answers with its own x-request-id and echoes a sane client id as x-client-request-id', async () => {
    for (const header of ['x-request-id', 'x-client-request-id']) {
      const kept = await call('GET', '/healthz', { headers: { [header]: 'client-id_1.2:3' } });
      expect(kept.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(kept.headers.get('x-client-request-id')).toBe('client-id_1.2:3');
    }
    for (const bad of ['has space', 'x'.repeat(200), 'quote"d']) {
      const res = await call('GET', '/healthz', { headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('x-client-request-id')).toBeNull();
    }
  });

  it('answers unknown routes with 404 in OpenAI shape', async () => {
    const error = expectError(await call('GET', '/nope'), 404, 'unknown_url');
    expect(error.type).toBe('not_found_error');
    expect(error.message).toContain('/nope');
  });

  it('refuses bodies over the limit with 413 before reading them, on every API', async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const key = await createKey();
    for (const [path, token] of [
      ['/admin/v1/keys', ADMIN],
      ['/v1/chat/completions', key.key ?? ''],
      ['/node/v1/heartbeat', 'fgn-whatever'],
    ] as const) {
      const res = await call('POST', path, { token, raw: JSON.stringify({ name: big }) });
      const error = expectError(res, 413, 'request_too_large');
      expect(error.type).toBe('invalid_request_error');
      expect(res.headers.get('connection')).toBe('close');
    }
    // Just under the limit is fine.
    const ok = await call('POST', '/admin/v1/keys', {
      token: ADMIN,
      raw: JSON.stringify({ name: 'n'.repeat(200) }).padEnd(MAX_BODY, ' '),
    });
    expect(ok.status).toBe(400); // a 200-character name is too long, but the body was read
  });

  it('counts a chunked body as it arrives', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(4096));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY * 4) controller.close();
        else {
          sent += chunk.length;
          controller.enqueue(chunk);
        }
      },
    });
    const res = await app.request('/admin/v1/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(MAX_BODY * 4);
  });
});

describe('admin authentication', () => {
  it('refuses a missing, malformed or wrong admin token', async () => {
    expectError(await call('GET', '/admin/v1/keys'), 401, 'missing_admin_token');
    expectError(
      await call('GET', '/admin/v1/keys', { headers: { authorization: `Basic ${ADMIN}` } }),
      401,
      'invalid_admin_token',
    );
    expectError(
      await call('GET', '/admin/v1/keys', { token: `${ADMIN}x` }),
      401,
      'invalid_admin_token',
    );
    expectError(
      await call('GET', '/admin/v1/keys', { token: 'short' }),
      401,
      'invalid_admin_token',
    );
  });

  it('does not take an API key as an admin token', async () => {
    const key = await createKey();
    expectError(await call('GET', '/admin/v1/keys', { token: key.key }), 401);
  });
});

describe('API keys', () => {
  it('goes through its life: create, list, use, disable, enable, revoke', async () => {
    const created = await createKey({ name: 'lifecycle', models: ['a', 'b', 'a'] });
    expect(created).toMatchObject({
      object: 'api_key',
      name: 'lifecycle',
      models: ['a', 'b'],
      disabled: false,
      expires_at: null,
      last_used_at: null,
    });
    expect(created.id).toMatch(/^key_/);
    expect(created.key).toMatch(/^sk-fg-/);
    expect(created.prefix).toBe(created.key?.slice(0, 10));
    expect(Math.abs(created.created_at - clock / 1000)).toBeLessThan(2);
    const secret = created.key ?? '';

    // Stored only as its hash.
    const [row] = await temp.db.select().from(apiKeys).where(eq(apiKeys.id, created.id));
    expect(row?.keyHash).toBe(await hashSecret(secret));
    expect(JSON.stringify(row)).not.toContain(secret);

    const list = await admin<List<KeyObject>>('GET', '/keys');
    expect(list.body.object).toBe('list');
    const listed = list.body.data.find((k) => k.id === created.id);
    expect(listed).toMatchObject({ name: 'lifecycle', prefix: created.prefix });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(JSON.stringify(list.body)).not.toContain(row?.keyHash);
    const one = await admin<KeyObject>('GET', `/keys/${created.id}`);
    expect(one.body).not.toHaveProperty('key');
    expect(one.body).toEqual(listed);

    expect((await call('GET', '/v1/models', { token: secret })).status).toBe(200);
    // last_used_at is written in the background.
    await expect
      .poll(async () => (await admin<KeyObject>('GET', `/keys/${created.id}`)).body.last_used_at)
      .not.toBeNull();

    const disabled = await admin<KeyObject>('PATCH', `/keys/${created.id}`, { disabled: true });
    expect(disabled.body.disabled).toBe(true);
    const refused = expectError(
      await call('GET', '/v1/models', { token: secret }),
      401,
      'invalid_api_key',
    );
    expect(refused.message).toContain('disabled');
    expect(refused.type).toBe('authentication_error');

    await admin('PATCH', `/keys/${created.id}`, { disabled: false, name: 'renamed' });
    expect((await call('GET', '/v1/models', { token: secret })).status).toBe(200);

    const deleted = await admin('DELETE', `/keys/${created.id}`);
    expect(deleted.body).toEqual({ id: created.id, object: 'api_key', deleted: true });
    const gone = expectError(
      await call('GET', '/v1/models', { token: secret }),
      401,
      'invalid_api_key',
    );
    expect(gone.message).toContain(created.prefix);
    expect(gone.message).not.toContain(secret);
    expectError(await admin('GET', `/keys/${created.id}`), 404, 'api_key_not_found');
    expectError(await admin('DELETE', `/keys/${created.id}`), 404);
  });

  it('stops working once expired, with its own error code', async () => {
    const inAMinute = Math.floor(clock / 1000) + 60;
    const key = await createKey({ name: 'expiring', expires_at: inAMinute });
    expect(key.expires_at).toBe(inAMinute);
    expect((await call('GET', '/v1/models', { token: key.key })).status).toBe(200);
    clock += 61_000;
    try {
      const error = expectError(
        await call('GET', '/v1/models', { token: key.key }),
        401,
        'expired_api_key',
      );
      expect(error.message).toContain('expired');
    } finally {
      clock -= 61_000;
    }
  });

  it('takes expires_at as an ISO date-time and can clear it', async () => {
    const iso = new Date(clock + 3600_000).toISOString();
    const key = await createKey({ name: 'iso', expires_at: iso });
    expect(key.expires_at).toBe(Math.floor(Date.parse(iso) / 1000));
    const patched = await admin<KeyObject>('PATCH', `/keys/${key.id}`, { expires_at: null });
    expect(patched.body.expires_at).toBeNull();
  });

  it('tells missing, malformed, foreign and unknown keys apart', async () => {
    const messages = new Set<string>();
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Token abc' },
      { authorization: 'Bearer not-a-fleetgate-key' },
      { authorization: `Bearer sk-fg-${'A'.repeat(43)}` },
    ]) {
      const error = expectError(
        await call('GET', '/v1/models', { headers }),
        401,
        'invalid_api_key',
      );
      messages.add(error.message);
    }
    expect(messages.size).toBe(4);
  });

  it('validates what it is given', async () => {
    const missing = expectError(await admin('POST', '/keys', {}), 400);
    expect(missing.param).toBe('name');
    const unknown = expectError(await admin('POST', '/keys', { name: 'x', rpm: 5 }), 400);
    expect(unknown.message).toContain("'rpm'");
    expect(expectError(await admin('POST', '/keys', { name: 'x', models: [] }), 400).param).toBe(
      'models',
    );
    const past = expectError(
      await admin('POST', '/keys', { name: 'x', expires_at: Math.floor(clock / 1000) - 10 }),
      400,
    );
    expect(past.param).toBe('expires_at');
    expect(
      expectError(await admin('POST', '/keys', { name: 'x', expires_at: 'soon' }), 400).param,
    ).toBe('expires_at');
    const json = expectError(
      await call('POST', '/admin/v1/keys', { token: ADMIN, raw: '{"name":' }),
      400,
      'invalid_json',
    );
    expect(json.type).toBe('invalid_request_error');
    expectError(await admin('PATCH', '/keys/key_nope', { disabled: true }), 404);
  });
});

describe('registration tokens and node registration', () => {
  it('lists tokens without their secret', async () => {
    const created = await admin<{ id: string; token: string; max_uses: number; uses: number }>(
      'POST',
      '/registration-tokens',
      { name: 'listed', ttl_s: 600, uses: 3 },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'registration_token', uses: 0, max_uses: 3 });
    expect(created.body.token).toMatch(/^fgr-/);
    const list = await admin<List<Record<string, unknown>>>('GET', '/registration-tokens');
    const listed = list.body.data.find((t) => t.id === created.body.id);
    expect(listed).toMatchObject({ name: 'listed', uses: 0, max_uses: 3 });
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    expectError(await admin('POST', '/registration-tokens', { ttl_s: 31 * 24 * 3600 }), 400);
  });

  it('registers a node and answers its identity, the JWKS and the heartbeat interval', async () => {
    const registered = await registerNode('reg-ok');
    expect(registered.node_id).toMatch(/^node_/);
    expect(registered.node_secret).toMatch(/^fgn-/);
    expect(registered.jwks).toEqual(signer.jwks());
    expect(registered.heartbeat_interval_s).toBe(HEARTBEAT_S);
    expect(registered.issuer).toBe(DATA_PLANE_JWT_ISSUER);
    const [row] = await temp.db.select().from(nodes).where(eq(nodes.id, registered.node_id));
    expect(row?.secretHash).toBe(await hashSecret(registered.node_secret));
    const node = await admin<{ status: string; name: string }>(
      'GET',
      `/nodes/${registered.node_id}`,
    );
    expect(node.body).toMatchObject({ name: 'reg-ok', status: 'offline' });
    expect((await call('GET', '/node/v1/jwks')).body).toEqual(signer.jwks());
  });

  it('refuses unknown, expired and used-up tokens with distinct errors', async () => {
    const body = nodeBody('reg-refused');
    expectError(await call('POST', '/node/v1/register', { body }), 401, 'invalid_node_credentials');
    expectError(
      await call('POST', '/node/v1/register', { token: `fgr-${'B'.repeat(43)}`, body }),
      401,
      'invalid_registration_token',
    );

    const expiring = await registrationToken({ ttl_s: 10 });
    clock += 11_000;
    try {
      expectError(
        await call('POST', '/node/v1/register', { token: expiring, body }),
        401,
        'expired_registration_token',
      );
    } finally {
      clock -= 11_000;
    }

    const once = await registrationToken({ uses: 1 });
    expect((await call('POST', '/node/v1/register', { token: once, body })).status).toBe(201);
    expectError(
      await call('POST', '/node/v1/register', { token: once, body: nodeBody('reg-again') }),
      401,
      'registration_token_used_up',
    );
  });

  it('does not spend a use on a bad body or a taken name', async () => {
    const token = await registrationToken({ uses: 1 });
    const bad = expectError(
      await call('POST', '/node/v1/register', {
        token,
        body: { ...nodeBody('bad-url'), advertise_url: 'ftp://x' },
      }),
      400,
    );
    expect(bad.param).toBe('advertise_url');
    await registerNode('taken-name');
    expectError(
      await call('POST', '/node/v1/register', { token, body: nodeBody('taken-name') }),
      409,
      'node_name_taken',
    );
    expect(
      (await call('POST', '/node/v1/register', { token, body: nodeBody('fresh') })).status,
    ).toBe(201);
  });

  it('lets only one of two concurrent registrations take the last use', async () => {
    const token = await registrationToken({ uses: 1 });
    const results = await Promise.all(
      ['race-1', 'race-2', 'race-3'].map((name) =>
        call('POST', '/node/v1/register', { token, body: nodeBody(name) }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401]);
  });
});

describe('deployments, placement and heartbeats', () => {
  let nodeA: RegisterResponse;
  let nodeB: RegisterResponse;

  beforeAll(async () => {
    nodeA = await registerNode('place-a', 'http://127.0.0.1:9', 2);
    nodeB = await registerNode('place-b', 'http://127.0.0.1:9', 1);
  });

  beforeEach(async () => {
    // Both nodes online at the current clock.
    expect((await heartbeat(nodeA.node_secret, [], 2)).status).toBe(200);
    expect((await heartbeat(nodeB.node_secret, [], 1)).status).toBe(200);
  });

  it('refuses heartbeats without a valid node secret', async () => {
    expectError(
      await call('POST', '/node/v1/heartbeat', { body: {} }),
      401,
      'invalid_node_credentials',
    );
    expectError(await heartbeat(`fgn-${'C'.repeat(43)}`), 401, 'invalid_node_secret');
    expectError(await heartbeat('fgr-not-a-node-secret'), 401, 'invalid_node_secret');
    const bad = expectError(
      await call('POST', '/node/v1/heartbeat', { token: nodeA.node_secret, body: { gpus: [] } }),
      400,
    );
    expect(bad.param).toBe('daemon_version');
  });

  it('validates deployments, naming the bad option', async () => {
    const unknown = expectError(
      await admin('POST', '/deployments', { model: 'm', recipe: 'sim', options: { ttft: 5 } }),
      400,
      'invalid_recipe_option',
    );
    expect(unknown.message).toContain("'ttft'");
    const badValue = expectError(
      await admin('POST', '/deployments', { model: 'm', recipe: 'sim', options: { ttft_ms: -1 } }),
      400,
    );
    expect(badValue.param).toBe('options.ttft_ms');
    const recipe = expectError(
      await admin('POST', '/deployments', { model: 'm', recipe: 'tgi' }),
      400,
    );
    expect(recipe.param).toBe('recipe');
    const replicas = expectError(
      await admin('POST', '/deployments', { model: 'm', recipe: 'sim', replicas: 65 }),
      400,
    );
    expect(replicas.param).toBe('replicas');
    const node = expectError(
      await admin('POST', '/deployments', {
        model: 'm',
        recipe: 'sim',
        placement: { node_id: 'node_missing' },
      }),
      400,
      'node_not_found',
    );
    expect(node.param).toBe('placement.node_id');
    const placement = expectError(
      await admin('POST', '/deployments', { model: 'm', recipe: 'sim', placement: { zone: 'x' } }),
      400,
    );
    expect(placement.message).toContain("'zone'");
    const gpus = expectError(
      await admin('POST', '/deployments', {
        model: 'm',
        recipe: 'vllm',
        options: { gpus: 2 },
        placement: { node_id: nodeB.node_id },
      }),
      400,
      'insufficient_gpus',
    );
    expect(gpus.message).toContain('1 GPU');
    expectError(await admin('POST', '/deployments', { model: 'has space', recipe: 'sim' }), 400);
  });

  it('places a deployment, tells the node in its heartbeat, and records reported state', async () => {
    const created = await admin<Deployment>('POST', '/deployments', {
      model: 'org/placed-model',
      recipe: 'sim',
      options: { ttft_ms: 5 },
      placement: { node_id: nodeA.node_id },
    });
    expect(created.status).toBe(201);
    expect(created.body.replicas).toBe(1);
    const [instance] = created.body.instances;
    expect(instance).toMatchObject({ node_id: nodeA.node_id, replica: 0, state: 'pending' });
    if (!instance) throw new Error('no instance');

    const hb = await heartbeat(nodeA.node_secret, [], 2);
    expect(hb.body.node_id).toBe(nodeA.node_id);
    expect(hb.body.jwks).toEqual(signer.jwks());
    expect(hb.body.desired).toContainEqual({
      instance_id: instance.id,
      deployment_id: created.body.id,
      model: 'org/placed-model',
      recipe: 'sim',
      options: { ttft_ms: 5 },
      gpus: 0,
    });
    // The other node is not told to run it, and cannot report on it.
    const other = await heartbeat(
      nodeB.node_secret,
      [{ instance_id: instance.id, deployment_id: created.body.id, state: 'failed' }],
      1,
    );
    expect(other.body.desired.map((d) => d.instance_id)).not.toContain(instance.id);

    await heartbeat(
      nodeA.node_secret,
      [
        {
          instance_id: instance.id,
          deployment_id: created.body.id,
          state: 'pulling',
          progress: { bytes: 5e6, total_bytes: 10e6, percent: 50 },
          gpu_indices: [1],
          metrics: { kv_cache_usage: 0.25 },
        },
      ],
      2,
    );
    const shown = await admin<Deployment>('GET', `/deployments/${created.body.id}`);
    expect(shown.body.instances[0]).toMatchObject({
      id: instance.id,
      state: 'pulling',
      gpu_indices: [1],
    });
    expect(shown.body.instances[0]?.detail).toContain('50%');
    const node = await admin<{ status: string; instances: Instance[] }>(
      'GET',
      `/nodes/${nodeA.node_id}`,
    );
    expect(node.body.status).toBe('online');
    expect(node.body.instances.map((i) => i.id)).toContain(instance.id);

    // Deleting the deployment empties the node's desired set.
    expect((await admin('DELETE', `/deployments/${created.body.id}`)).body).toEqual({
      id: created.body.id,
      object: 'deployment',
      deleted: true,
    });
    const after = await heartbeat(nodeA.node_secret, [], 2);
    expect(after.body.desired.map((d) => d.instance_id)).not.toContain(instance.id);
    expectError(await admin('GET', `/deployments/${created.body.id}`), 404, 'deployment_not_found');
  });

  it('scales replicas over nodes with room, and replaces instances when the spec changes', async () => {
    const created = await admin<Deployment>('POST', '/deployments', {
      model: 'scaled',
      recipe: 'sim',
      options: { gpus: 1 },
    });
    expect(created.body.instances).toHaveLength(1);
    const scaled = await admin<Deployment>('PATCH', `/deployments/${created.body.id}`, {
      replicas: 3,
    });
    // place-a has 2 GPUs and place-b 1: three one-GPU replicas fit, spread over both.
    expect(scaled.body.instances.map((i) => i.replica)).toEqual([0, 1, 2]);
    const perNode = (d: Deployment, id: string) =>
      d.instances.filter((i) => i.node_id === id).length;
    expect(perNode(scaled.body, nodeA.node_id)).toBe(2);
    expect(perNode(scaled.body, nodeB.node_id)).toBe(1);
    const ids = scaled.body.instances.map((i) => i.id);
    expect(ids).toContain(created.body.instances[0]?.id);

    const respec = await admin<Deployment>('PATCH', `/deployments/${created.body.id}`, {
      options: { gpus: 1, seed: 3 },
    });
    expect(respec.body.instances).toHaveLength(3);
    for (const i of respec.body.instances) expect(ids).not.toContain(i.id);

    const down = await admin<Deployment>('PATCH', `/deployments/${created.body.id}`, {
      replicas: 1,
    });
    expect(down.body.instances.map((i) => i.replica)).toEqual([0]);
    const list = await admin<List<Deployment>>('GET', '/deployments');
    expect(list.body.data.find((d) => d.id === created.body.id)?.instances).toHaveLength(1);
    await admin('DELETE', `/deployments/${created.body.id}`);
  });

  it('shows nodes offline after three silent intervals and moves work off a removed node', async () => {
    const created = await admin<Deployment>('POST', '/deployments', {
      model: 'movable',
      recipe: 'sim',
      replicas: 2,
    });
    expect(new Set(created.body.instances.map((i) => i.node_id))).toEqual(
      new Set([nodeA.node_id, nodeB.node_id]),
    );
    clock += 3 * HEARTBEAT_S * 1000 + 1000;
    await heartbeat(nodeA.node_secret, [], 2);
    const listed = await admin<List<{ id: string; status: string }>>('GET', '/nodes');
    const status = new Map(listed.body.data.map((n) => [n.id, n.status]));
    expect(status.get(nodeA.node_id)).toBe('online');
    expect(status.get(nodeB.node_id)).toBe('offline');

    const removed = await admin('DELETE', `/nodes/${nodeB.node_id}`);
    expect(removed.body).toEqual({ id: nodeB.node_id, object: 'node', deleted: true });
    const rows = await temp.db
      .select()
      .from(deploymentInstances)
      .where(eq(deploymentInstances.nodeId, nodeB.node_id));
    expect(rows).toEqual([]);
    const moved = await admin<Deployment>('GET', `/deployments/${created.body.id}`);
    expect(moved.body.instances.map((i) => i.node_id)).toEqual([nodeA.node_id, nodeA.node_id]);
    expectError(await heartbeat(nodeB.node_secret), 401, 'invalid_node_secret');
    expectError(await admin('GET', `/nodes/${nodeB.node_id}`), 404, 'node_not_found');
    await admin('DELETE', `/deployments/${created.body.id}`);
    nodeB = await registerNode('place-b2', 'http://127.0.0.1:9', 1);
  });
});

describe('requests through the whole app', () => {
  let engine: FakeEngine;

  beforeAll(async () => {
    engine = await startFakeEngine({ jwks: () => signer.jwks() });
  });
  afterAll(async () => {
    await engine.close();
  });

  it('authenticates, routes to a ready instance and records usage', async () => {
    const node = await registerNode('serving', engine.url);
    const dep = await admin<Deployment>('POST', '/deployments', {
      model: 'served-model',
      recipe: 'external',
      options: { url: engine.url },
      placement: { node_id: node.node_id },
    });
    const instance = dep.body.instances[0];
    if (!instance) throw new Error('not placed');
    await heartbeat(node.node_secret, [
      { instance_id: instance.id, deployment_id: dep.body.id, state: 'ready' },
    ]);
    const key = await createKey({ name: 'caller', models: ['served-model'] });
    const res = await call<{ usage: unknown }>('POST', '/v1/chat/completions', {
      token: key.key,
      body: { model: 'served-model', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.status).toBe(200);
    expect(res.body.usage).toEqual(ENGINE_USAGE);
    const requestId = res.headers.get('x-request-id') ?? '';
    expect(engine.received.at(-1)?.claims).toMatchObject({
      aud: node.node_id,
      jti: requestId,
      instance: instance.id,
    });
    await expect
      .poll(async () => {
        const events = await admin<List<{ id: string; key_id: string; total_tokens: number }>>(
          'GET',
          '/usage/events?limit=10',
        );
        return events.body.data.find((e) => e.id === requestId);
      })
      .toMatchObject({ key_id: key.id, total_tokens: ENGINE_USAGE.total_tokens });

    const forbidden = expectError(
      await call('POST', '/v1/chat/completions', {
        token: key.key,
        body: { model: 'other-model', messages: [] },
      }),
      403,
    );
    expect(forbidden.type).toBe('permission_error');
  });
});

describe('engine logs through the admin API', () => {
  let server: Server;
  let url: string;
  let seen: { path: string; authorization: string | undefined }[];

  beforeAll(async () => {
    seen = [];
    server = createServer((req, res) => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      const tail = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('tail'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: Array.from({ length: tail }, (_, i) => `line ${i}`),
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("reads the engine's last lines from the node, with a JWT for that node and instance", async () => {
    const node = await registerNode('logs-node', url);
    await heartbeat(node.node_secret);
    const dep = await admin<Deployment>('POST', '/deployments', {
      model: 'logged',
      recipe: 'sim',
      placement: { node_id: node.node_id },
    });
    const instanceId = dep.body.instances[0]?.id ?? '';
    const res = await admin<List<string> & { instance_id: string }>(
      'GET',
      `/deployments/${dep.body.id}/logs?tail=3&replica=0`,
    );
    expect(res.status).toBe(200);
    expect(res.body.data).toEqual(['line 0', 'line 1', 'line 2']);
    expect(res.body.instance_id).toBe(instanceId);
    const request = seen.at(-1);
    expect(request?.path).toBe(`/fleetgate/v1/instances/${instanceId}/logs?tail=3`);
    const jwt = /^Bearer (.+)$/.exec(request?.authorization ?? '')?.[1] ?? '';
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(signer.jwks()), {
      issuer: DATA_PLANE_JWT_ISSUER,
      audience: node.node_id,
    });
    expect(payload).toMatchObject({ instance: instanceId, model: 'logged' });

    expectError(await admin('GET', `/deployments/${dep.body.id}/logs?tail=0`), 400);
    expectError(await admin('GET', `/deployments/${dep.body.id}/logs?replica=4`), 404);
    clock += 3 * HEARTBEAT_S * 1000 + 1000;
    try {
      expectError(await admin('GET', `/deployments/${dep.body.id}/logs`), 503, 'node_offline');
    } finally {
      clock -= 3 * HEARTBEAT_S * 1000 + 1000;
    }
  });
});

describe('usage', () => {
  const base = Date.UTC(2030, 0, 1, 12);
  const from = Math.floor(base / 1000) - 3600;
  const to = Math.floor(base / 1000) + 2 * 86_400;

  beforeAll(async () => {
    const row = (
      id: string,
      keyId: string,
      model: string,
      createdAt: number,
      outcome: 'ok' | 'error' | 'client_aborted' | 'upstream_error',
      tokens: [number, number],
      latencyMs: number,
      ttftMs: number | null,
    ) => ({
      id,
      keyId,
      model,
      endpoint: '/v1/chat/completions',
      nodeId: 'node_u',
      instanceId: 'inst_u',
      stream: ttftMs !== null,
      status: outcome === 'error' ? 400 : 200,
      outcome,
      errorCode: null,
      promptTokens: tokens[0],
      completionTokens: tokens[1],
      totalTokens: tokens[0] + tokens[1],
      latencyMs,
      ttftMs,
      createdAt,
    });
    await temp.db.insert(usageEvents).values([
      row('u1', 'key_u1', 'alpha', base, 'ok', [10, 5], 100, 20),
      row('u2', 'key_u1', 'alpha', base + 1000, 'ok', [20, 10], 300, 40),
      row('u3', 'key_u2', 'beta', base + 86_400_000, 'upstream_error', [7, 0], 50, null),
      row('u4', 'key_u2', 'alpha', base + 86_400_000 + 5, 'client_aborted', [3, 2], 10, null),
      row('u5', 'key_u2', 'beta', base + 86_400_000 + 9, 'error', [0, 0], 1, null),
      // Outside the window.
      row('u6', 'key_u1', 'alpha', base - 2 * 86_400_000, 'ok', [1000, 1000], 1, 1),
    ]);
  });

  it('groups by model, key, node and day within the window', async () => {
    const byModel = await admin<List<Record<string, unknown>>>(
      'GET',
      `/usage?from=${from}&to=${to}&group_by=model`,
    );
    expect(byModel.status).toBe(200);
    expect(byModel.body.data).toEqual([
      {
        group: 'alpha',
        requests: 3,
        errors: 0,
        prompt_tokens: 33,
        completion_tokens: 17,
        total_tokens: 50,
        avg_latency_ms: 136.7,
        avg_ttft_ms: 30,
      },
      {
        group: 'beta',
        requests: 2,
        errors: 2,
        prompt_tokens: 7,
        completion_tokens: 0,
        total_tokens: 7,
        avg_latency_ms: 25.5,
        avg_ttft_ms: null,
      },
    ]);
    const byKey = await admin<List<{ group: string; requests: number }>>(
      'GET',
      `/usage?from=${from}&to=${to}&group_by=key`,
    );
    expect(byKey.body.data.map((r) => [r.group, r.requests])).toEqual([
      ['key_u1', 2],
      ['key_u2', 3],
    ]);
    const byDay = await admin<List<{ group: string; total_tokens: number }>>(
      'GET',
      `/usage?from=${new Date(from * 1000).toISOString()}&to=${to}&group_by=day`,
    );
    expect(byDay.body.data.map((r) => [r.group, r.total_tokens])).toEqual([
      ['2030-01-01', 45],
      ['2030-01-02', 12],
    ]);
    const byNode = await admin<List<{ group: string; requests: number }>>(
      'GET',
      `/usage?from=${from}&to=${to}&group_by=node`,
    );
    expect(byNode.body.data).toEqual([expect.objectContaining({ group: 'node_u', requests: 5 })]);
  });

  it('answers totals without group_by, and zeros for an empty window', async () => {
    const totals = await admin<List<Record<string, unknown>>>(
      'GET',
      `/usage?from=${from}&to=${to}`,
    );
    expect(totals.body.data).toEqual([
      expect.objectContaining({ group: null, requests: 5, errors: 2, total_tokens: 57 }),
    ]);
    const empty = await admin<List<Record<string, unknown>>>('GET', '/usage?from=1000&to=2000');
    expect(empty.body.data).toEqual([
      {
        group: null,
        requests: 0,
        errors: 0,
        prompt_tokens: 0,
        completion_tokens: 0,
        total_tokens: 0,
        avg_latency_ms: null,
        avg_ttft_ms: null,
      },
    ]);
  });

  it('lists raw events, newest first and bounded', async () => {
    const events = await admin<List<{ id: string; created_at: number }>>(
      'GET',
      `/usage/events?from=${from}&to=${to}&limit=2`,
    );
    expect(events.body.data.map((e) => e.id)).toEqual(['u5', 'u4']);
    const byKey = await admin<List<{ id: string }>>(
      'GET',
      `/usage/events?from=${from}&to=${to}&key_id=key_u1`,
    );
    expect(byKey.body.data.map((e) => e.id)).toEqual(['u2', 'u1']);
    expect(expectError(await admin('GET', '/usage/events?limit=100000'), 400).param).toBe('limit');
  });

  it('refuses a bad group or window', async () => {
    expect(expectError(await admin('GET', '/usage?group_by=week'), 400).param).toBe('group_by');
    expect(expectError(await admin('GET', '/usage?from=yesterday'), 400).param).toBe('from');
    expect(expectError(await admin('GET', '/usage?from=2000&to=1000'), 400).param).toBe('from');
  });
});
