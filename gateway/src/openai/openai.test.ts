// The OpenAI sub-app against real parts: a migrated libSQL file, the real signer, the
// direct transport, and fake engines that are real HTTP servers on 127.0.0.1. The gateway
// itself is served over HTTP too, so client aborts are real connection closes.
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploymentInstances, deployments, nodes, usageEvents } from '../../../schema/db.ts';
import { ApiError } from '../errors.ts';
import { requestId } from '../middleware/request-id.ts';
import { directTransport } from '../proxy/transport.ts';
import { createSigner, generateSigningJwk } from '../signing/signer.ts';
import {
  ENGINE_USAGE,
  STREAM_TEXT,
  refusedUrl,
  startFakeEngine,
  type FakeEngine,
} from '../testing/fake-engine.ts';
import { createTempDb, type TempDb } from '../testing/temp-db.ts';
import type { AppEnv, AuthenticatedKey, Signer } from '../types.ts';
import { createDirectUsageSink } from '../usage/sink.ts';
import { NO_LIMITS } from '../limits/arithmetic.ts';
import { openaiApp } from './index.ts';

const KEYS: Record<string, AuthenticatedKey> = {
  'sk-all': { id: 'key-all', name: 'all', models: null, limits: NO_LIMITS },
  'sk-limited': { id: 'key-limited', name: 'limited', models: ['other'], limits: NO_LIMITS },
};

let temp: TempDb;
let signer: Signer;
let engine: FakeEngine;
let broken: FakeEngine;
let gateway: ServerType;
let base: string;

type Row = typeof usageEvents.$inferSelect;

// The prompt estimate (usage/estimate.ts) for chat(model): 'user' + 'hi' is 6 characters,
// 2 tokens, plus 4 for the one message.
const HI_PROMPT_TOKENS = 6;

beforeAll(async () => {
  temp = await createTempDb();
  signer = await createSigner(await generateSigningJwk());
  engine = await startFakeEngine({ jwks: () => signer.jwks() });
  broken = await startFakeEngine({ jwks: () => signer.jwks(), force: 'fail-500' });
  const refused = await refusedUrl();
  const now = Date.now();
  const { db } = temp;
  await db.insert(nodes).values(
    [
      ['node-a', engine.url, now],
      ['node-refused', refused, now],
      ['node-broken', broken.url, now],
      ['node-stale', engine.url, now - 60_000],
    ].map(([id, advertiseUrl, lastHeartbeatAt]) => ({
      id: String(id),
      name: String(id),
      advertiseUrl: String(advertiseUrl),
      secretHash: `hash-${String(id)}`,
      daemonVersion: '1',
      gpus: [],
      lastHeartbeatAt: Number(lastHeartbeatAt),
    })),
  );
  await db.insert(deployments).values(
    ['llama', 'org/flaky', 'half-broken', 'dead', 'cold', 'offline', 'other'].map((model) => ({
      id: `dep-${model}`,
      model,
      recipe: 'sim' as const,
      options: {},
      placement: {},
    })),
  );
  // Instance ids sort the way round-robin tries them: the bad instance comes first.
  const instances: [string, string, string, 'ready' | 'starting'][] = [
    ['i-llama', 'llama', 'node-a', 'ready'],
    ['i-flaky-1', 'org/flaky', 'node-refused', 'ready'],
    ['i-flaky-2', 'org/flaky', 'node-a', 'ready'],
    ['i-half-1', 'half-broken', 'node-broken', 'ready'],
    ['i-half-2', 'half-broken', 'node-a', 'ready'],
    ['i-dead-1', 'dead', 'node-refused', 'ready'],
    ['i-dead-2', 'dead', 'node-broken', 'ready'],
    ['i-cold', 'cold', 'node-a', 'starting'],
    ['i-offline', 'offline', 'node-stale', 'ready'],
    ['i-other', 'other', 'node-a', 'ready'],
  ];
  await db.insert(deploymentInstances).values(
    instances.map(([id, model, nodeId, state], replica) => ({
      id,
      deploymentId: `dep-${model}`,
      nodeId,
      replica,
      state,
    })),
  );

  const app = new Hono<AppEnv>();
  app.use('*', requestId());
  // Stands in for the app's API-key middleware.
  app.use('*', async (c, next) => {
    const key = KEYS[c.req.header('authorization')?.replace(/^Bearer /, '') ?? ''];
    if (!key) return c.json({ error: 'no key' }, 401);
    c.set('apiKey', key);
    await next();
  });
  app.onError((err, c) => {
    if (err instanceof ApiError) return c.json(err.body(), err.status);
    throw err;
  });
  app.route(
    '/v1',
    openaiApp({
      db,
      config: {
        adminToken: 'x',
        maxBodyBytes: 1 << 20,
        heartbeatIntervalS: 5,
        cacheTtlMs: 2000,
        nodeJwtTtlS: 30,
        defaultMaxTokens: 4096,
      },
      signer,
      usage: createDirectUsageSink(db),
      transport: directTransport,
    }),
  );
  gateway = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => gateway.once('listening', resolve));
  base = `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    gateway.close(() => resolve());
    if ('closeAllConnections' in gateway) gateway.closeAllConnections();
  });
  await engine.close();
  await broken.close();
  await temp.close();
});

function call(path: string, body: unknown, key = 'sk-all', signal?: AbortSignal) {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

const chat = (model: string, extra: Record<string, unknown> = {}) => ({
  model,
  messages: [{ role: 'user', content: 'hi' }],
  ...extra,
});

async function usageRow(res: Response): Promise<Row> {
  const id = res.headers.get('x-request-id') ?? '';
  return expect
    .poll(async () => {
      const [row] = await temp.db.select().from(usageEvents).where(eq(usageEvents.id, id));
      return row;
    })
    .toBeDefined()
    .then(async () => {
      const [row] = await temp.db.select().from(usageEvents).where(eq(usageEvents.id, id));
      if (!row) throw new Error('no usage row');
      return row;
    });
}

const lastReceived = () => {
  const last = engine.received.at(-1);
  if (!last) throw new Error('the engine received nothing');
  return last;
};

// What the gateway should send for a stream: the engine's bytes, less the usage-only block.
const withoutUsageBlock = (sent: string) =>
  sent
    .split(/(?<=\n\n)/)
    .filter((block) => !block.includes('"usage"'))
    .join('');

describe('non-streaming', () => {
  it('forwards with a JWT for the chosen node, never the client key, and records usage', async () => {
    const res = await call('/chat/completions', chat('llama', { max_tokens: 5 }));
    expect(res.status).toBe(200);
    const body = await res.json<{
      usage: unknown;
      choices: { message: { content: string } }[];
    }>();
    expect(body.usage).toEqual(ENGINE_USAGE);
    expect(body.choices[0]?.message.content).toBe(STREAM_TEXT.join(''));
    const got = lastReceived();
    expect(got.path).toBe('/v1/chat/completions');
    expect(got.headers.authorization).not.toContain('sk-all');
    expect(got.claims).toMatchObject({ aud: 'node-a', instance: 'i-llama', model: 'llama' });
    expect(got.claims?.jti).toBe(res.headers.get('x-request-id'));
    expect(got.headers['x-request-id']).toBe(res.headers.get('x-request-id'));
    expect(got.body).toEqual(chat('llama', { max_tokens: 5 }));

    const row = await usageRow(res);
    expect(row).toMatchObject({
      keyId: 'key-all',
      model: 'llama',
      endpoint: '/v1/chat/completions',
      nodeId: 'node-a',
      instanceId: 'i-llama',
      stream: false,
      status: 200,
      outcome: 'ok',
      errorCode: null,
      promptTokens: ENGINE_USAGE.prompt_tokens,
      completionTokens: ENGINE_USAGE.completion_tokens,
      totalTokens: ENGINE_USAGE.total_tokens,
      ttftMs: null,
    });
    expect(row.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('keys each row by its own id whatever id the client sends, and keeps the client id apart', async () => {
    const responses = [];
    for (let i = 0; i < 3; i += 1) {
      const res = await fetch(`${base}/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: 'Bearer sk-all',
          'content-type': 'application/json',
          'x-request-id': 'same-client-id',
        },
        body: JSON.stringify(chat('llama')),
      });
      expect(res.status).toBe(200);
      // The gateway's own id comes back; the client's is echoed under its own name.
      expect(res.headers.get('x-request-id')).not.toBe('same-client-id');
      expect(res.headers.get('x-client-request-id')).toBe('same-client-id');
      expect(lastReceived().headers['x-request-id']).toBe(res.headers.get('x-request-id'));
      expect(lastReceived().claims?.jti).toBe(res.headers.get('x-request-id'));
      responses.push(res);
    }
    const ids = new Set(responses.map((r) => r.headers.get('x-request-id')));
    expect(ids.size).toBe(3);
    for (const res of responses) await usageRow(res);
    const rows = await temp.db
      .select()
      .from(usageEvents)
      .where(eq(usageEvents.clientRequestId, 'same-client-id'));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.totalTokens).toBe(ENGINE_USAGE.total_tokens);
  });

  it('serves completions, and embeddings without a stream flag', async () => {
    const completion = await call('/completions', { model: 'llama', prompt: 'Once' });
    expect((await completion.json<{ choices: { text: string }[] }>()).choices[0]?.text).toBe(
      STREAM_TEXT.join(''),
    );
    expect(lastReceived().path).toBe('/v1/completions');

    const res = await call('/embeddings', { model: 'llama', input: ['a', 'b'], stream: true });
    expect(res.status).toBe(200);
    expect((await res.json<{ data: unknown[] }>()).data).toHaveLength(2);
    expect(lastReceived().body).toEqual({ model: 'llama', input: ['a', 'b'] });
    expect(await usageRow(res)).toMatchObject({ stream: false, promptTokens: 4, totalTokens: 4 });
  });

  it('passes an engine 4xx through, and wraps one that is not OpenAI-shaped', async () => {
    const res = await call('/chat/completions', chat('llama', { scenario: 'bad-request' }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { message: 'max_tokens is too large', param: 'max_tokens' },
    });
    expect(await usageRow(res)).toMatchObject({ status: 400, outcome: 'error', errorCode: '400' });

    const plain = await call('/chat/completions', chat('llama', { scenario: 'plain-400' }));
    expect(plain.status).toBe(400);
    expect(await plain.json()).toEqual({
      error: {
        message: 'bad things',
        type: 'invalid_request_error',
        param: null,
        code: 'upstream_rejected',
      },
    });
  });
});

describe('streaming', () => {
  it('relays the engine bytes, hiding the usage chunk the client did not ask for', async () => {
    const res = await call('/chat/completions', chat('llama', { stream: true }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const got = lastReceived();
    expect(got.body.stream_options).toEqual({ include_usage: true });
    expect(got.sent).toContain('"usage"');
    expect(text).toBe(withoutUsageBlock(got.sent));
    expect(text).toContain(': ping\n\n');
    expect(text).not.toContain('usage');

    const row = await usageRow(res);
    expect(row).toMatchObject({
      stream: true,
      status: 200,
      outcome: 'ok',
      promptTokens: ENGINE_USAGE.prompt_tokens,
      completionTokens: ENGINE_USAGE.completion_tokens,
      totalTokens: ENGINE_USAGE.total_tokens,
    });
    expect(row.ttftMs).not.toBeNull();
  });

  it('passes the usage chunk through, byte for byte, when the client asked for it', async () => {
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, stream_options: { include_usage: true, extra: 1 } }),
    );
    const text = await res.text();
    const got = lastReceived();
    expect(got.body.stream_options).toEqual({ include_usage: true, extra: 1 });
    expect(text).toBe(got.sent);
    expect(text).toContain(JSON.stringify(ENGINE_USAGE));
  });

  it('strips only the usage field from a usage chunk that still carries choices', async () => {
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'usage-with-choices' }),
    );
    const text = await res.text();
    expect(text).not.toContain('usage');
    expect(text).toContain('"finish_reason":"stop"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(await usageRow(res)).toMatchObject({
      outcome: 'ok',
      totalTokens: ENGINE_USAGE.total_tokens,
    });
  });

  it('records an error object inside a 200 stream as a failed request', async () => {
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'error-in-stream' }),
    );
    const text = await res.text();
    expect(text).toContain('"code":"context_length_exceeded"');
    expect(await usageRow(res)).toMatchObject({
      status: 200,
      outcome: 'error',
      errorCode: 'context_length_exceeded',
      completionTokens: 2,
    });
  });

  it('ends the stream with an error event when the node dies after the first byte', async () => {
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'die-mid-stream' }),
    );
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain(STREAM_TEXT[1]);
    const blocks = text.trimEnd().split('\n\n');
    const last = JSON.parse(blocks.at(-1)?.replace(/^data: /, '') ?? '') as {
      error: { code: string };
    };
    expect(last.error.code).toBe('upstream_error');
    // No usage chunk came: the prompt is estimated from the request, the deltas counted.
    expect(await usageRow(res)).toMatchObject({
      outcome: 'upstream_error',
      promptTokens: HI_PROMPT_TOKENS,
      completionTokens: 2,
    });
  });

  it('treats a stream that ends without [DONE] as failed', async () => {
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'no-done' }),
    );
    const text = await res.text();
    expect(text).toContain('"error"');
    expect(await usageRow(res)).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_incomplete',
    });
  });

  it('aborts the node request when the client goes away, and charges what was generated', async () => {
    const controller = new AbortController();
    const before = engine.received.length;
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'slow' }),
      'sk-all',
      controller.signal,
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    const decoder = new TextDecoder();
    while ((seen.match(/"more"/g) ?? []).length < 3) {
      const { value } = await reader.read();
      seen += decoder.decode(value);
    }
    controller.abort();
    const upstream = engine.received[before];
    await expect.poll(() => upstream?.aborted).toBe(true);
    const row = await usageRow(res);
    expect(row.outcome).toBe('client_aborted');
    expect(row.status).toBe(200);
    // "first" plus at least the three "more" deltas the client saw.
    expect(row.completionTokens).toBeGreaterThanOrEqual(4);
    expect(row.promptTokens).toBe(HI_PROMPT_TOKENS);
  });

  it('reads on for the usage chunk when the client leaves right after finish_reason', async () => {
    const controller = new AbortController();
    const before = engine.received.length;
    const res = await call(
      '/chat/completions',
      chat('llama', { stream: true, scenario: 'late-usage' }),
      'sk-all',
      controller.signal,
    );
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    const decoder = new TextDecoder();
    while (!seen.includes('"finish_reason":"stop"')) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the stream ended before finish_reason');
      seen += decoder.decode(value);
    }
    controller.abort();
    const row = await usageRow(res);
    expect(row).toMatchObject({
      outcome: 'client_aborted',
      status: 200,
      promptTokens: ENGINE_USAGE.prompt_tokens,
      completionTokens: ENGINE_USAGE.completion_tokens,
    });
    // The engine finished its answer: nothing was cut.
    expect(engine.received[before]?.sent).toContain('[DONE]');
  });
});

describe('retries', () => {
  it('retries on another instance when the connection is refused', async () => {
    for (let i = 0; i < 4; i += 1) {
      const before = engine.received.length;
      const res = await call('/chat/completions', chat('org/flaky'));
      expect(res.status).toBe(200);
      expect(engine.received.length).toBe(before + 1);
      expect(await usageRow(res)).toMatchObject({ outcome: 'ok', instanceId: 'i-flaky-2' });
    }
  });

  it('retries on another instance after a 5xx before the first byte', async () => {
    const res = await call('/chat/completions', chat('half-broken', { stream: true }));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('data: [DONE]');
    expect(broken.received.length).toBeGreaterThanOrEqual(1);
    expect(await usageRow(res)).toMatchObject({ outcome: 'ok', nodeId: 'node-a' });
  });

  it('answers 502 when every instance failed', async () => {
    const res = await call('/chat/completions', chat('dead'));
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      error: { type: 'server_error', code: 'upstream_error' },
    });
    expect(await usageRow(res)).toMatchObject({ status: 502, outcome: 'upstream_error' });
  });
});

describe('refusals', () => {
  const refusal = async (res: Response, status: number, error: Record<string, unknown>) => {
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({ error });
    return usageRow(res);
  };

  it('400 for malformed JSON and missing or wrong fields', async () => {
    const malformed = await refusal(await call('/chat/completions', '{"model": '), 400, {
      type: 'invalid_request_error',
      code: 'invalid_json',
    });
    expect(malformed).toMatchObject({
      status: 400,
      outcome: 'error',
      errorCode: 'invalid_json',
      model: null,
    });
    await refusal(await call('/chat/completions', '[1]'), 400, { code: 'invalid_json' });
    await refusal(await call('/chat/completions', { messages: [] }), 400, { param: 'model' });
    await refusal(await call('/chat/completions', { model: 'llama' }), 400, { param: 'messages' });
    await refusal(await call('/completions', { model: 'llama' }), 400, { param: 'prompt' });
    await refusal(await call('/embeddings', { model: 'llama' }), 400, { param: 'input' });
    await refusal(await call('/chat/completions', chat('llama', { stream: 'yes' })), 400, {
      param: 'stream',
    });
  });

  it('403 for a model the key may not use, 404 for an unknown one', async () => {
    const row = await refusal(await call('/chat/completions', chat('llama'), 'sk-limited'), 403, {
      type: 'permission_error',
      code: 'model_not_allowed',
    });
    expect(row).toMatchObject({ keyId: 'key-limited', model: 'llama', status: 403 });
    await refusal(await call('/chat/completions', chat('nope')), 404, {
      type: 'not_found_error',
      code: 'model_not_found',
      param: 'model',
    });
  });

  it('503 when no instance is ready, or its node is offline', async () => {
    const row = await refusal(await call('/chat/completions', chat('cold')), 503, {
      code: 'no_ready_instance',
    });
    expect(row).toMatchObject({ status: 503, outcome: 'error', nodeId: null });
    await refusal(await call('/chat/completions', chat('offline')), 503, {
      code: 'no_ready_instance',
    });
  });
});

describe('models', () => {
  const get = (path: string, key = 'sk-all') =>
    fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });

  it('lists the models the key may use that have a ready instance', async () => {
    const all = await (await get('/models')).json<{ object: string; data: { id: string }[] }>();
    expect(all.object).toBe('list');
    expect(all.data.map((m) => m.id)).toEqual([
      'dead',
      'half-broken',
      'llama',
      'org/flaky',
      'other',
    ]);
    expect(all.data[0]).toMatchObject({ object: 'model', owned_by: 'fleetgate' });
    const limited = await (await get('/models', 'sk-limited')).json<{ data: { id: string }[] }>();
    expect(limited.data.map((m) => m.id)).toEqual(['other']);
  });

  it('shows one visible model, names with slashes included, and 404 otherwise', async () => {
    expect(await (await get('/models/org/flaky')).json()).toMatchObject({
      id: 'org/flaky',
      object: 'model',
    });
    expect((await get('/models/cold')).status).toBe(404);
    expect((await get('/models/llama', 'sk-limited')).status).toBe(404);
  });
});
