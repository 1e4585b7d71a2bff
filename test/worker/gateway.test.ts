// The gateway's Cloudflare host inside workerd: requests enter through the Worker's own
// fetch handler (gateway/src/worker.ts, configured from wrangler.toml), the database is a
// local D1, and the "node" is a real HTTP server in Node.js (upstream.ts) that the Worker
// reaches over the loopback network, as it would a node's advertise URL.
import { createExecutionContext } from 'cloudflare:test';
import { env, exports } from 'cloudflare:workers';
import { createLocalJWKSet, jwtVerify } from 'jose';
import OpenAI, { toFile } from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import worker from '../../gateway/src/worker.ts';
import { DATA_PLANE_JWT_ISSUER, type Jwks } from '../../schema/contracts.ts';
import type { SeenRequest } from './upstream.ts';

// Any origin does: requests go straight to the Worker's handler, not over the network.
const ORIGIN = 'http://fleetgate.test';
const MODEL = 'worker-test-model';

interface ApiResult<T> {
  status: number;
  headers: Headers;
  body: T;
}

interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

async function call<T>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<ApiResult<T>> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : null) as T };
}

function admin<T>(method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
  return call<T>(method, `/admin/v1${path}`, { token: env.FLEETGATE_ADMIN_TOKEN, body });
}

function openai(apiKey: string): OpenAI {
  return new OpenAI({
    baseURL: `${ORIGIN}/v1`,
    apiKey,
    maxRetries: 0,
    fetch: (input, init) => exports.default.fetch(input, init),
  });
}

async function upstreamRequests(): Promise<SeenRequest[]> {
  const res = await fetch(`${env.UPSTREAM_URL}/_test/requests`);
  return res.json<SeenRequest[]>();
}

interface UsageRow {
  id: string;
  key_id: string | null;
  model: string | null;
  endpoint: string;
  node_id: string | null;
  instance_id: string | null;
  stream: number;
  status: number;
  outcome: string;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  latency_ms: number;
  ttft_ms: number | null;
  audio_seconds: number;
}

// Usage is written in waitUntil after the response (or after the stream's end), so the row
// appears shortly after the client is done; poll D1 for it rather than guess a delay.
async function usageRow(requestId: string): Promise<UsageRow> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const row = await env.DB.prepare('SELECT * FROM usage_events WHERE id = ?')
      .bind(requestId)
      .first<UsageRow>();
    if (row) return row;
    if (Date.now() > deadline) throw new Error(`no usage row for request ${requestId} in D1`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let apiKey: { id: string; key: string };
let nodeId: string;
let instanceId: string;
let jwks: Jwks;

beforeAll(async () => {
  const key = await admin<{ id: string; key: string }>('POST', '/keys', { name: 'worker-test' });
  expect(key.status).toBe(201);
  apiKey = key.body;

  const token = await admin<{ token: string }>('POST', '/registration-tokens', {
    name: 'worker-node',
    ttl_s: 600,
    uses: 1,
  });
  expect(token.status).toBe(201);
  const registered = await call<{ node_id: string; node_secret: string; jwks: Jwks }>(
    'POST',
    '/node/v1/register',
    {
      token: token.body.token,
      body: {
        name: 'worker-node',
        advertise_url: env.UPSTREAM_URL,
        gpus: [],
        daemon_version: 'worker-test',
      },
    },
  );
  expect(registered.status).toBe(201);
  nodeId = registered.body.node_id;
  jwks = registered.body.jwks;
  const nodeSecret = registered.body.node_secret;

  const deployment = await admin<{ id: string }>('POST', '/deployments', {
    model: MODEL,
    recipe: 'external',
    options: { url: env.UPSTREAM_URL },
    placement: { node_id: nodeId },
    replicas: 1,
  });
  expect(deployment.status).toBe(201);

  const heartbeat = (instances: unknown[]) =>
    call<{ desired: { instance_id: string; deployment_id: string; model: string }[] }>(
      'POST',
      '/node/v1/heartbeat',
      {
        token: nodeSecret,
        body: { daemon_version: 'worker-test', gpus: [], instances, in_flight: 0, queued: 0 },
      },
    );
  const first = await heartbeat([]);
  expect(first.status).toBe(200);
  const desired = first.body.desired.find((d) => d.deployment_id === deployment.body.id);
  if (!desired) throw new Error(`heartbeat answer lacks the deployment: ${JSON.stringify(first)}`);
  expect(desired.model).toBe(MODEL);
  instanceId = desired.instance_id;
  const ready = await heartbeat([
    { instance_id: instanceId, deployment_id: deployment.body.id, state: 'ready' },
  ]);
  expect(ready.status).toBe(200);
});

describe('the Worker host', () => {
  it('answers /healthz from D1', async () => {
    const res = await call<unknown>('GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('refuses the admin API without the admin token', async () => {
    const res = await call<ErrorBody>('GET', '/admin/v1/keys', { token: 'not-the-admin-token' });
    expect(res.status).toBe(401);
    expect(res.body.error.type).toBe('authentication_error');
  });

  it('refuses a request without an API key, in OpenAI error shape', async () => {
    const res = await call<ErrorBody>('POST', '/v1/chat/completions', {
      body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(res.status).toBe(401);
    expect(res.body.error).toMatchObject({ type: 'authentication_error' });
    expect(typeof res.body.error.message).toBe('string');
    expect(res.body.error).toHaveProperty('param');
    expect(res.body.error).toHaveProperty('code');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('lists the model once its instance is ready', async () => {
    const models = await openai(apiKey.key).models.list();
    expect(models.data.map((m) => m.id)).toContain(MODEL);
  });

  it('authenticates, routes to the node with a signed JWT, and records usage in D1', async () => {
    const content = 'one two three four';
    const { data, response } = await openai(apiKey.key)
      .chat.completions.create({ model: MODEL, messages: [{ role: 'user', content }] })
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('Hello from the upstream node.');
    expect(data.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });
    const requestId = response.headers.get('x-request-id') ?? '';
    expect(requestId).not.toBe('');

    // The node received the client's request, with a JWT for itself instead of the API key.
    const seen = (await upstreamRequests()).filter((r) => r.requestId === requestId);
    expect(seen).toHaveLength(1);
    const forwarded = seen[0];
    expect(forwarded?.path).toBe('/v1/chat/completions');
    expect(forwarded?.body).toMatchObject({ model: MODEL, messages: [{ role: 'user', content }] });
    const jwt = /^Bearer (.+)$/.exec(forwarded?.authorization ?? '')?.[1] ?? '';
    expect(jwt).not.toContain(apiKey.key);
    const { payload } = await jwtVerify(jwt, createLocalJWKSet(jwks), {
      issuer: DATA_PLANE_JWT_ISSUER,
      audience: nodeId,
    });
    expect(payload).toMatchObject({ jti: requestId, instance: instanceId, model: MODEL });

    const row = await usageRow(requestId);
    expect(row).toMatchObject({
      key_id: apiKey.id,
      model: MODEL,
      node_id: nodeId,
      instance_id: instanceId,
      stream: 0,
      status: 200,
      outcome: 'ok',
      prompt_tokens: 4,
      completion_tokens: 5,
      total_tokens: 9,
    });
  });

  it('streams a chat completion and records the usage the node reported', async () => {
    const { data: stream, response } = await openai(apiKey.key)
      .chat.completions.create({
        model: MODEL,
        stream: true,
        messages: [{ role: 'user', content: 'stream these five words please' }],
      })
      .withResponse();
    let text = '';
    for await (const chunk of stream) {
      // The client did not ask for the usage chunk, so the gateway hides it.
      expect(chunk.usage ?? null).toBeNull();
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(text).toBe('Hello from the upstream node.');
    const requestId = response.headers.get('x-request-id') ?? '';

    // The gateway asked the engine for usage explicitly.
    const seen = (await upstreamRequests()).find((r) => r.requestId === requestId);
    expect(seen?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });

    const row = await usageRow(requestId);
    expect(row).toMatchObject({
      key_id: apiKey.id,
      stream: 1,
      outcome: 'ok',
      prompt_tokens: 5,
      completion_tokens: 5,
      total_tokens: 10,
    });
    expect(row.ttft_ms).not.toBeNull();
  });

  it('streams a responses request as typed events and records the usage of response.completed', async () => {
    const { data: stream, response } = await openai(apiKey.key)
      .responses.create({ model: MODEL, stream: true, input: 'four words of input' })
      .withResponse();
    let text = '';
    let last = '';
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') text += event.delta;
      last = event.type;
    }
    expect(text).toBe('Hello from the upstream node.');
    expect(last).toBe('response.completed');
    const requestId = response.headers.get('x-request-id') ?? '';
    // Responses streams always end with their usage: nothing was added to the body.
    const seen = (await upstreamRequests()).find((r) => r.requestId === requestId);
    expect(seen?.body).not.toHaveProperty('stream_options');
    const row = await usageRow(requestId);
    expect(row).toMatchObject({
      endpoint: '/v1/responses',
      stream: 1,
      outcome: 'ok',
      prompt_tokens: 4,
      completion_tokens: 5,
      total_tokens: 9,
    });
    expect(row.ttft_ms).not.toBeNull();
  });

  it('streams an audio upload through to the node and records its audio seconds', async () => {
    const file = await toFile(new TextEncoder().encode(`RIFF${'a'.repeat(4000)}`), 'a.wav');
    const { data, response } = await openai(apiKey.key)
      .audio.transcriptions.create({ model: MODEL, file })
      .withResponse();
    const match = /^heard (\d+) bytes as multipart\/form-data; boundary=/.exec(data.text);
    expect(match).not.toBeNull();
    expect(Number(match?.[1])).toBeGreaterThan(4004);
    const row = await usageRow(response.headers.get('x-request-id') ?? '');
    expect(row).toMatchObject({
      endpoint: '/v1/audio/transcriptions',
      outcome: 'ok',
      audio_seconds: 2,
    });
  });

  it('refuses a key once it is revoked', async () => {
    const created = await admin<{ id: string; key: string }>('POST', '/keys', {
      name: 'revoked-soon',
    });
    expect(created.status).toBe(201);
    const client = openai(created.body.key);
    await expect(client.models.list()).resolves.toBeDefined();

    const revoked = await admin<unknown>('DELETE', `/keys/${created.body.id}`);
    expect(revoked.status).toBeLessThan(300);
    // FLEETGATE_CACHE_TTL_MS is 0 in this project, so the next request already sees it.
    const err: unknown = await client.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);

    const res = await call<ErrorBody>('GET', '/v1/models', { token: created.body.key });
    expect(res.status).toBe(401);
    expect(res.body.error.type).toBe('authentication_error');
  });

  it('answers 500 naming the missing secret when the signing key is not set', async () => {
    const res = await worker.fetch(
      new Request(`${ORIGIN}/healthz`),
      { ...env, FLEETGATE_SIGNING_JWK: undefined },
      createExecutionContext(),
    );
    expect(res.status).toBe(500);
    const body = await res.json<ErrorBody>();
    expect(body.error.type).toBe('server_error');
    expect(body.error.message).toContain('FLEETGATE_SIGNING_JWK');
  });

  // No libSQL server (sqld, Turso) is available to the tests, so this checks the wiring only:
  // with FLEETGATE_LIBSQL_URL set, the gateway speaks libSQL's HTTP protocol to that URL
  // with the token, and not to D1. The upstream answers 404, so the database is unreachable.
  it('uses libSQL over HTTP instead of D1 when FLEETGATE_LIBSQL_URL is set', async () => {
    const token = `libsql-token-${crypto.randomUUID()}`;
    const res = await worker.fetch(
      new Request(`${ORIGIN}/healthz`),
      {
        ...env,
        FLEETGATE_LIBSQL_URL: `${env.UPSTREAM_URL}/libsql`,
        FLEETGATE_LIBSQL_AUTH_TOKEN: token,
      },
      createExecutionContext(),
    );
    expect(res.status).toBe(503);
    const sent = (await upstreamRequests()).filter((r) => r.authorization === `Bearer ${token}`);
    expect(sent.length).toBeGreaterThan(0);
    expect(JSON.stringify(sent.map((r) => r.body))).toMatch(/select 1/i);
  });
});
