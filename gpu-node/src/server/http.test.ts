// The daemon's HTTP server against a real engine (node:http on an ephemeral port) fronted
// by the external recipe, with tokens signed by a key made here.
import http, { type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_PLANE_JWT_ISSUER } from '../../../schema/contracts.ts';
import { Supervisor } from '../control/supervisor.ts';
import type { Logger } from '../log.ts';
import { externalRecipe } from '../recipes/external.ts';
import { ProcessRuntime } from '../runtimes/process.ts';
import { testSigner, type TestSigner } from '../testing/jwt.ts';
import { DataPlaneVerifier } from './auth.ts';
import { createNodeServer, listen } from './http.ts';
import { renderMetrics } from './metrics.ts';
import { ReplayCache } from './replay.ts';

const NODE_ID = 'node-A';
const quiet: Logger = { info: () => {}, warn: () => {}, error: () => {} };

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let engine: Server;
let engineUrl: string;
const seen: Seen[] = [];
let releaseStream: () => void = () => {};
let upstreamClosed: Promise<void> = Promise.resolve();
let signalUpstreamClosed: () => void = () => {};

let signer: TestSigner;
let supervisor: Supervisor;
let server: Server;
let url: string;
let registered = false;

function startEngine(): Promise<void> {
  engine = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      if (req.url === '/health') {
        res.end('ok');
      } else if (req.url === '/metrics') {
        res.end('vllm:num_requests_running{model_name="x"} 2\nvllm:num_requests_waiting 5\n');
      } else if (req.url?.startsWith('/v1/chat/completions')) {
        const parsed = JSON.parse(body) as { stream?: boolean };
        if (!parsed.stream) {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ id: 'c1', object: 'chat.completion', choices: [] }));
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"n":1}\n\n');
        // The rest only once the client has seen the first chunk: proves no buffering.
        releaseStream = () => {
          res.write('data: {"n":2}\n\n');
          res.end('data: [DONE]\n\n');
        };
      } else if (req.url === '/v1/hang') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"n":1}\n\n');
        res.on('close', () => signalUpstreamClosed());
      } else {
        res.writeHead(404).end();
      }
    });
  });
  return new Promise((resolve) => {
    engine.listen(0, '127.0.0.1', () => {
      engineUrl = `http://127.0.0.1:${(engine.address() as AddressInfo).port}`;
      resolve();
    });
  });
}

beforeAll(async () => {
  await startEngine();
  signer = await testSigner();
  supervisor = new Supervisor({
    nodeId: NODE_ID,
    runtimes: { process: new ProcessRuntime() },
    recipes: { external: externalRecipe },
    gpuIndices: () => [],
    modelCache: '/tmp',
    log: quiet,
    metricsIntervalMs: 0,
  });
  supervisor.reconcile([
    {
      instance_id: 'inst-1',
      deployment_id: 'dep-1',
      model: 'm1',
      recipe: 'external',
      options: {
        url: `${engineUrl}/v1`,
        api_key: 'engine-key',
        served_model_name: 'served-m1',
        metrics_path: '/metrics',
      },
      gpus: 0,
    },
    {
      instance_id: 'inst-down',
      deployment_id: 'dep-2',
      model: 'm2',
      recipe: 'external',
      // Port 9 (discard) is closed on the test machine: the engine never becomes healthy.
      options: { url: 'http://127.0.0.1:9' },
      gpus: 0,
    },
  ]);
  await supervisor.tick();
  await supervisor.tick();
  const verifier = new DataPlaneVerifier(NODE_ID, DATA_PLANE_JWT_ISSUER, signer.jwks);
  server = createNodeServer({
    supervisor,
    verifier,
    registered: () => registered,
    snapshot: () => ({
      ...supervisor.totals(),
      heartbeatFailuresTotal: 0,
      tokenCacheEvictionsTotal: 0,
      registered,
      gpus: [
        {
          index: 0,
          name: 'NVIDIA L4',
          memory_total_mib: 23034,
          memory_used_mib: 1024,
          utilization_pct: 50,
        },
      ],
      instances: supervisor.describe(),
    }),
    log: quiet,
  });
  const address = await listen(server, '127.0.0.1', 0);
  url = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  engine.closeAllConnections();
  await new Promise((r) => engine.close(r));
});

const chatBody = JSON.stringify({ model: 'm1', messages: [{ role: 'user', content: 'hi' }] });

async function post(path: string, token: string | undefined, body = chatBody) {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-request-id': 'rid-1',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body,
  });
}

async function expectError(res: Response, status: number, code: string) {
  expect(res.status).toBe(status);
  const body = await res.json<{ error: { message: string; type: string; code: string } }>();
  expect(body.error.code).toBe(code);
  expect(typeof body.error.message).toBe('string');
  expect(body.error).toHaveProperty('param');
  return body.error;
}

describe('data plane', () => {
  it('proxies a request with a valid gateway token, without leaking the token upstream', async () => {
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    const res = await post('/v1/chat/completions?x=1', token);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ object: 'chat.completion' });
    const last = seen.filter((s) => s.url.startsWith('/v1/chat')).at(-1);
    expect(last?.url).toBe('/v1/chat/completions?x=1');
    expect(last?.headers.authorization).toBe('Bearer engine-key');
    expect(last?.headers['x-request-id']).toBe('rid-1');
    // served_model_name: the engine gets its own name for the model.
    expect(JSON.parse(last?.body ?? '{}')).toMatchObject({ model: 'served-m1' });
  });

  it('streams the answer chunk by chunk', async () => {
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    const res = await post(
      '/v1/chat/completions',
      token,
      JSON.stringify({ model: 'm1', stream: true, messages: [] }),
    );
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    const decoder = new TextDecoder();
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe('data: {"n":1}\n\n');
    releaseStream();
    let rest = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest += decoder.decode(value, { stream: true });
    }
    expect(rest).toBe('data: {"n":2}\n\ndata: [DONE]\n\n');
  });

  it('aborts the engine request when the client goes away, and counts in-flight requests', async () => {
    upstreamClosed = new Promise((resolve) => (signalUpstreamClosed = resolve));
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    const controller = new AbortController();
    const res = await fetch(`${url}/v1/hang`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{}',
      signal: controller.signal,
    });
    expect(res.status).toBe(200);
    expect(supervisor.totals().inFlight).toBe(1);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain('fleetgate_node_in_flight 1');
    controller.abort();
    await upstreamClosed;
    for (let i = 0; i < 100 && supervisor.totals().inFlight !== 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(supervisor.totals().inFlight).toBe(0);
  });

  it('refuses requests without a valid token for this node', async () => {
    await expectError(await post('/v1/chat/completions', undefined), 401, 'invalid_node_token');
    await expectError(
      await post('/v1/chat/completions', 'sk-a-client-key'),
      401,
      'invalid_node_token',
    );

    const otherNode = await signer.sign({ aud: 'node-B', instance: 'inst-1' });
    const err = await expectError(
      await post('/v1/chat/completions', otherNode),
      401,
      'invalid_node_token',
    );
    expect(err.message).toMatch(/aud/);

    const expired = await signer.sign({
      aud: NODE_ID,
      instance: 'inst-1',
      iatOffsetS: -120,
      ttlS: 60,
    });
    expect(
      (await expectError(await post('/v1/models', expired), 401, 'invalid_node_token')).message,
    ).toMatch(/expired/);

    // Unexpired but issued too long ago (a token must be at most 60 s old).
    const old = await signer.sign({ aud: NODE_ID, instance: 'inst-1', iatOffsetS: -90, ttlS: 600 });
    await expectError(await post('/v1/models', old), 401, 'invalid_node_token');

    const stranger = await testSigner('test-key');
    const forged = await stranger.sign({ aud: NODE_ID, instance: 'inst-1' });
    await expectError(await post('/v1/models', forged), 401, 'invalid_node_token');

    const wrongIssuer = await signer.sign({ aud: NODE_ID, instance: 'inst-1', issuer: 'someone' });
    await expectError(await post('/v1/models', wrongIssuer), 401, 'invalid_node_token');
  });

  it('answers 404 for an instance it does not run and 503 for one that is not ready', async () => {
    const missing = await signer.sign({ aud: NODE_ID, instance: 'inst-elsewhere' });
    await expectError(await post('/v1/chat/completions', missing), 404, 'instance_not_found');
    const down = await signer.sign({ aud: NODE_ID, instance: 'inst-down' });
    const err = await expectError(
      await post('/v1/chat/completions', down),
      503,
      'instance_not_ready',
    );
    expect(err.message).toMatch(
      /inst-down' is failed: health check http:\/\/127\.0\.0\.1:9\/health failing/,
    );
  });

  it('accepts a token for the request its scope allows, once', async () => {
    const inference = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    expect((await post('/v1/chat/completions', inference)).status).toBe(200);
    const replayed = await expectError(
      await post('/v1/chat/completions', inference),
      401,
      'invalid_node_token',
    );
    expect(replayed.message).toMatch(/already used/);
    // The gateway's retry on another instance of this node: same request id, another token.
    const jti = 'req-retried';
    const first = await signer.sign({ aud: NODE_ID, instance: 'inst-down', jti });
    await expectError(await post('/v1/chat/completions', first), 503, 'instance_not_ready');
    const retry = await signer.sign({ aud: NODE_ID, instance: 'inst-1', jti });
    expect((await post('/v1/chat/completions', retry)).status).toBe(200);

    const logsToken = await signer.sign({ aud: NODE_ID, instance: 'inst-1', scope: 'logs' });
    const wrongScope = await expectError(
      await post('/v1/chat/completions', logsToken),
      401,
      'invalid_node_token',
    );
    expect(wrongScope.message).toMatch(/scope 'logs' does not allow POST \/v1\/chat\/completions/);
    // Refused for the wrong scope, the logs token was not spent: its own request works, once.
    const logsPath = `${url}/fleetgate/v1/instances/inst-1/logs`;
    const readLogs = () => fetch(logsPath, { headers: { authorization: `Bearer ${logsToken}` } });
    expect((await readLogs()).status).toBe(200);
    await expectError(await readLogs(), 401, 'invalid_node_token');

    const forLogs = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    const inferenceOnLogs = await fetch(logsPath, {
      headers: { authorization: `Bearer ${forLogs}` },
    });
    expect((await expectError(inferenceOnLogs, 401, 'invalid_node_token')).message).toMatch(
      /scope 'inference' does not allow GET/,
    );
    // Inference is a POST: nothing the gateway forwards is a GET under /v1.
    const get = await fetch(`${url}/v1/models`, {
      headers: {
        authorization: `Bearer ${await signer.sign({ aud: NODE_ID, instance: 'inst-1' })}`,
      },
    });
    await expectError(get, 401, 'invalid_node_token');
  });

  it('counts tokens the full replay cache forgot early, for /metrics', async () => {
    const verifier = new DataPlaneVerifier(
      NODE_ID,
      DATA_PLANE_JWT_ISSUER,
      signer.jwks,
      new ReplayCache(1),
    );
    const request = { method: 'POST', path: '/v1/chat/completions' };
    for (let i = 0; i < 3; i += 1) {
      const token = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
      await verifier.verify(`Bearer ${token}`, request);
    }
    expect(verifier.tokensEvicted).toBe(2);
    const text = renderMetrics({
      inFlight: 0,
      queued: 0,
      heartbeatFailuresTotal: 0,
      tokenCacheEvictionsTotal: verifier.tokensEvicted,
      registered: true,
      gpus: [],
      instances: [],
    });
    expect(text).toContain('fleetgate_node_token_cache_evictions_total 2');
  });

  it('accepts tokens from a rotated key set once it is updated', async () => {
    const next = await testSigner('rotated');
    const token = await next.sign({ aud: NODE_ID, instance: 'inst-1' });
    await expectError(await post('/v1/chat/completions', token), 401, 'invalid_node_token');
    const verifier = new DataPlaneVerifier(NODE_ID, DATA_PLANE_JWT_ISSUER, signer.jwks);
    expect(verifier.setJwks(next.jwks)).toBe(true);
    expect(verifier.setJwks(next.jwks)).toBe(false);
    const request = { method: 'POST', path: '/v1/chat/completions' };
    await expect(verifier.verify(`Bearer ${token}`, request)).resolves.toMatchObject({
      instance: 'inst-1',
    });
  });
});

// A daemon with small body limits: 16 KiB read, 256 KiB more read and dropped.
describe('bodies over the limit', () => {
  let limited: Server;
  let limitedUrl: string;
  let connections = 0;

  beforeAll(async () => {
    limited = createNodeServer({
      supervisor,
      verifier: new DataPlaneVerifier(NODE_ID, DATA_PLANE_JWT_ISSUER, signer.jwks),
      registered: () => true,
      snapshot: () => ({
        ...supervisor.totals(),
        heartbeatFailuresTotal: 0,
        tokenCacheEvictionsTotal: 0,
        registered: true,
        gpus: [],
        instances: [],
      }),
      log: quiet,
      bodyLimits: { maxBytes: 16 * 1024, discardBytes: 256 * 1024, lingerMs: 2000 },
    });
    limited.on('connection', () => (connections += 1));
    limitedUrl = `http://127.0.0.1:${(await listen(limited, '127.0.0.1', 0)).port}`;
  });

  afterAll(async () => {
    limited.closeAllConnections();
    await new Promise((r) => limited.close(r));
  });

  async function postTo(body: BodyInit, headers: Record<string, string> = {}) {
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-1' });
    return fetch(`${limitedUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body,
      // A streamed body is sent chunked, without a content-length.
      ...(typeof body === 'string' ? {} : { duplex: 'half' }),
    });
  }

  function chunked(bytes: number): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream({
      pull(controller) {
        if (sent >= bytes) {
          controller.close();
          return;
        }
        const n = Math.min(8192, bytes - sent);
        sent += n;
        controller.enqueue(new Uint8Array(n).fill(0x20));
      },
    });
  }

  it('answers 413 on a connection that stays usable when the rest fits the bounds', async () => {
    const before = connections;
    const big = JSON.stringify({
      model: 'm1',
      messages: [{ role: 'user', content: 'x'.repeat(64 * 1024) }],
    });
    for (const body of [big, chunked(100 * 1024), big]) {
      const error = await expectError(await postTo(body), 413, 'request_too_large');
      expect(error.message).toMatch(/limit of 16384 bytes/);
    }
    // The same connection then carries a request that fits.
    expect((await postTo(chatBody)).status).toBe(200);
    expect(connections - before).toBe(1);
  });

  it('answers 413 and closes without a reset when the body is far over the limit', async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    for (let i = 0; i < 20; i += 1) {
      const res = await postTo(i % 2 ? huge : chunked(huge.length));
      expect(res.headers.get('connection')).toBe('close');
      await expectError(res, 413, 'request_too_large');
    }
    expect((await postTo(chatBody)).status).toBe(200);
  });
});

describe('health, metrics and logs', () => {
  it('reports liveness, and readiness only when registered and every instance is ready', async () => {
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    registered = false;
    const notReady = await fetch(`${url}/readyz`);
    expect(notReady.status).toBe(503);
    const body = await notReady.json<{
      registered: boolean;
      not_ready: { instance_id: string }[];
    }>();
    expect(body.registered).toBe(false);
    expect(body.not_ready.map((i) => i.instance_id)).toEqual(['inst-down']);
    registered = true;
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    // Nothing desired any more: nothing to wait for.
    supervisor.reconcile([]);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('exposes Prometheus metrics: states, GPUs and mapped engine figures', async () => {
    // Re-create the healthy instance (the previous test removed both).
    supervisor.reconcile([
      {
        instance_id: 'inst-1',
        deployment_id: 'dep-1',
        model: 'm1',
        recipe: 'external',
        options: { url: engineUrl, metrics_path: '/metrics' },
        gpus: 0,
      },
    ]);
    await supervisor.tick();
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain(
      'fleetgate_instance_state{instance="inst-1",deployment="dep-1",model="m1",state="ready"} 1',
    );
    expect(text).toContain(
      'fleetgate_instance_state{instance="inst-1",deployment="dep-1",model="m1",state="failed"} 0',
    );
    expect(text).toMatch(/fleetgate_instance_restarts_total\{instance="inst-1"[^}]*\} 0/);
    expect(text).toContain(
      'fleetgate_gpu_memory_total_bytes{gpu="0",name="NVIDIA L4"} 24152899584',
    );
    expect(text).toContain('fleetgate_gpu_utilization_ratio{gpu="0",name="NVIDIA L4"} 0.5');
    expect(text).toMatch(/fleetgate_engine_requests_running\{instance="inst-1"[^}]*\} 2/);
    expect(text).toContain('fleetgate_node_queued 5');
  });

  it('serves an instance logs to a token for that instance only', async () => {
    const logs = async (path: string, instance = 'inst-1') => {
      const token = await signer.sign({ aud: NODE_ID, instance, scope: 'logs' });
      return fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    };
    const res = await logs('/fleetgate/v1/instances/inst-1/logs?tail=10');
    expect(res.status).toBe(200);
    // An external engine's output is not the daemon's to read.
    expect(await res.json()).toEqual({ object: 'list', data: [] });
    await expectError(await logs('/fleetgate/v1/instances/inst-2/logs'), 401, 'invalid_node_token');
    const bad = await logs('/fleetgate/v1/instances/inst-1/logs?tail=99999');
    await expectError(bad, 400, 'invalid_tail');
    // As many lines as the gateway allows (it allowed 10,000 while the node refused 5,001).
    expect((await logs('/fleetgate/v1/instances/inst-1/logs?tail=10000')).status).toBe(200);
    const over = await logs('/fleetgate/v1/instances/inst-1/logs?tail=10001');
    expect((await expectError(over, 400, 'invalid_tail')).message).toMatch(/1 to 10000/);
    await expectError(
      await fetch(`${url}/fleetgate/v1/instances/inst-1/logs`),
      401,
      'invalid_node_token',
    );
  });
});
