// Access logs, CORS and the OpenAPI document on the Cloudflare host, inside workerd: the
// Worker's own fetch handler (gateway/src/worker.ts) with FLEETGATE_CORS_ORIGINS set in
// vitest.config.mts, a local D1, and the upstream "node" of upstream.ts for a stream.
import { env, exports } from 'cloudflare:workers';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  CreatedApiKeySchema,
  CreatedRegistrationTokenSchema,
  DeploymentSchema,
} from '../../schema/admin.ts';
import type { AccessLogEntry } from '../../schema/access-log.ts';
import { HeartbeatResponseSchema, RegisterResponseSchema } from '../../schema/contracts.ts';

const ORIGIN = 'http://fleetgate.test';
const APP = 'https://app.example.com';
const MODEL = 'conventions-model';

const fetchWorker = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`${ORIGIN}${path}`, init);
const adminHeaders = {
  authorization: `Bearer ${env.FLEETGATE_ADMIN_TOKEN}`,
  'content-type': 'application/json',
};
async function adminPost(path: string, body: unknown): Promise<unknown> {
  const res = await fetchWorker(`/admin/v1${path}`, {
    method: 'POST',
    headers: adminHeaders,
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(201);
  return res.json();
}

let key: string;

beforeAll(async () => {
  key = CreatedApiKeySchema.parse(await adminPost('/keys', { name: 'conventions' })).key;
  const { token } = CreatedRegistrationTokenSchema.parse(
    await adminPost('/registration-tokens', { name: 'conventions-node' }),
  );
  const registered = await fetchWorker('/node/v1/register', {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'conventions-node',
      advertise_url: env.UPSTREAM_URL,
      gpus: [],
      daemon_version: 'worker-test',
    }),
  });
  const node = RegisterResponseSchema.parse(await registered.json());
  const dep = DeploymentSchema.parse(
    await adminPost('/deployments', {
      model: MODEL,
      recipe: 'external',
      options: { url: env.UPSTREAM_URL },
      placement: { node_id: node.node_id },
    }),
  );
  const heartbeat = async (instances: unknown[]) => {
    const res = await fetchWorker('/node/v1/heartbeat', {
      method: 'POST',
      headers: { authorization: `Bearer ${node.node_secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        daemon_version: 'worker-test',
        gpus: [],
        instances,
        in_flight: 0,
        queued: 0,
      }),
    });
    return HeartbeatResponseSchema.parse(await res.json());
  };
  const desired = (await heartbeat([])).desired.find((d) => d.deployment_id === dep.id);
  if (!desired) throw new Error('the deployment was not placed');
  await heartbeat([{ instance_id: desired.instance_id, deployment_id: dep.id, state: 'ready' }]);
});

describe('access logs on the Worker host', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  // The entries the Worker gave console.log, as objects (what Workers Logs indexes).
  const spyLog = () => {
    const spy = vi.spyOn(console, 'log');
    return (requestId: string | null) =>
      spy.mock.calls
        .map(([entry]) => entry as AccessLogEntry)
        .filter((e) => typeof e === 'object' && e.request_id === requestId);
  };

  it('logs each request as an object, without secrets', async () => {
    const logged = spyLog();
    const res = await fetchWorker('/v1/models', { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const [entry] = logged(res.headers.get('x-request-id'));
    expect(entry).toMatchObject({ method: 'GET', path: '/v1/models', status: 200, outcome: 'ok' });
    expect(entry?.key_id).toMatch(/^key_/);
    expect(JSON.stringify(entry)).not.toContain(key);
  });

  it('logs a stream when it ends, with its node, instance and time to first token', async () => {
    const logged = spyLog();
    const res = await fetchWorker('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    const text = await res.text();
    await vi.waitFor(() => expect(logged(id)).toHaveLength(1));
    const [entry] = logged(id);
    expect(entry).toMatchObject({
      model: MODEL,
      outcome: 'ok',
      bytes_out: new TextEncoder().encode(text).byteLength,
    });
    expect(entry?.node_id).toMatch(/^node_/);
    expect(entry?.instance_id).toBeTruthy();
    expect(entry?.ttft_ms).toEqual(expect.any(Number));
  });
});

describe('CORS on the Worker host', () => {
  it('answers the preflight of the configured origin and exposes ids and limits', async () => {
    const pre = await fetchWorker('/v1/chat/completions', {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type,x-stainless-lang',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(APP);
    expect(pre.headers.get('access-control-allow-headers')).toContain('x-stainless-lang');
    const res = await fetchWorker('/v1/models', {
      headers: { origin: APP, authorization: `Bearer ${key}` },
    });
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-expose-headers')).toContain('x-request-id');
    expect(res.headers.get('access-control-expose-headers')).toContain(
      'x-ratelimit-remaining-requests',
    );
  });

  it('gives nothing to other origins, nor on /admin/v1 and /node/v1', async () => {
    const other = await fetchWorker('/v1/models', {
      headers: { origin: 'https://other.example', authorization: `Bearer ${key}` },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    for (const path of ['/admin/v1/keys', '/node/v1/heartbeat']) {
      const res = await fetchWorker(path, {
        method: 'OPTIONS',
        headers: { origin: APP, 'access-control-request-method': 'POST' },
      });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });
});

describe('the OpenAPI document on the Worker host', () => {
  it('is served behind the admin token, with its page', async () => {
    expect((await fetchWorker('/admin/v1/openapi.json')).status).toBe(401);
    const res = await fetchWorker('/admin/v1/openapi.json', { headers: adminHeaders });
    expect(res.status).toBe(200);
    const doc = await res.json<{ openapi: string; paths: Record<string, unknown> }>();
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/admin/v1/deployments/{id}');
    const page = await fetchWorker('/admin/v1/docs', { headers: adminHeaders });
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('<code>/admin/v1/keys/{id}</code>');
  });
});
