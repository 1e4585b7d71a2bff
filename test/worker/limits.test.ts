// Per-key limits on the Cloudflare host inside workerd: every admission goes through the
// key's Durable Object (KeyLimiter, SQLite-backed), and usage rows reach D1 in batches from
// its alarm. The node is the real Node.js server of upstream.ts.
import { env, exports } from 'cloudflare:workers';
import OpenAI, { RateLimitError } from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';

const ORIGIN = 'http://fleetgate.test';
const MODEL = 'worker-limits-model';

interface Sent {
  status: number;
  headers: Headers;
  body: unknown;
}

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<Sent> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

async function admin<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await call(method, `/admin/v1${path}`, { token: env.FLEETGATE_ADMIN_TOKEN, body });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body as T;
}

interface Key {
  id: string;
  key: string;
}

const createKey = (name: string, limits: Record<string, unknown>) =>
  admin<Key>('POST', '/keys', { name, limits });

const chat = (key: string, extra: Record<string, unknown> = {}) =>
  call('POST', '/v1/chat/completions', {
    token: key,
    body: { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, ...extra },
  });

const errorOf = (sent: Sent) => (sent.body as { error: { type: string; code: string } }).error;

interface Standing {
  used: { requests: number; tokens: number; spend_usd: number };
  in_flight: number;
}

async function standing(key: string): Promise<Standing> {
  const res = await call('GET', '/v1/key', { token: key });
  expect(res.status).toBe(200);
  return res.body as Standing;
}

interface OpenStream {
  status: number;
  controller: AbortController;
  done: Promise<void>;
}

async function openStream(key: string, scenario: string): Promise<OpenStream> {
  const controller = new AbortController();
  const res = await exports.default.fetch(`${ORIGIN}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
      stream: true,
      scenario,
    }),
    signal: controller.signal,
  });
  const reader = res.body?.getReader();
  if (res.status === 200 && reader) await reader.read();
  const done = (async () => {
    try {
      while (reader && !(await reader.read()).done);
    } catch {
      // aborted by the test, or cut by the node
    }
  })();
  if (res.status !== 200) await done;
  return { status: res.status, controller, done };
}

const waitIdle = (key: string) =>
  expect.poll(async () => (await standing(key)).in_flight, { timeout: 10_000 }).toBe(0);

beforeAll(async () => {
  const { token } = await admin<{ token: string }>('POST', '/registration-tokens', {
    name: 'worker-limits-node',
  });
  const registered = await call('POST', '/node/v1/register', {
    token,
    body: {
      name: 'worker-limits-node',
      advertise_url: env.UPSTREAM_URL,
      gpus: [],
      daemon_version: 'worker-test',
    },
  });
  expect(registered.status).toBe(201);
  const node = registered.body as { node_id: string; node_secret: string };
  const deployment = await admin<{ id: string; instances: { id: string }[] }>(
    'POST',
    '/deployments',
    {
      model: MODEL,
      recipe: 'external',
      options: { url: env.UPSTREAM_URL },
      placement: { node_id: node.node_id },
    },
  );
  const instance = deployment.instances[0];
  if (!instance) throw new Error('not placed');
  const ready = await call('POST', '/node/v1/heartbeat', {
    token: node.node_secret,
    body: {
      daemon_version: 'worker-test',
      gpus: [],
      instances: [{ instance_id: instance.id, deployment_id: deployment.id, state: 'ready' }],
      in_flight: 0,
      queued: 0,
    },
  });
  expect(ready.status).toBe(200);
});

describe('limits on the Worker host (a Durable Object per key)', () => {
  it('admits exactly requests_per_minute of 50 simultaneous requests', async () => {
    const key = await createKey('w-rpm', { requests_per_minute: 10 });
    const answers = await Promise.all(Array.from({ length: 50 }, () => chat(key.key)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(10);
    const refused = answers.filter((a) => a.status === 429);
    expect(refused).toHaveLength(40);
    for (const r of refused) {
      expect(errorOf(r)).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
      expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });

  it('admits exactly max_concurrent_requests of 20 streams; slots come back', async () => {
    const key = await createKey('w-concurrent', { max_concurrent_requests: 3 });
    const streams = await Promise.all(
      Array.from({ length: 20 }, () => openStream(key.key, 'hold')),
    );
    expect(streams.filter((s) => s.status === 200)).toHaveLength(3);
    expect(streams.filter((s) => s.status === 429)).toHaveLength(17);
    expect((await standing(key.key)).in_flight).toBe(3);

    // The clients go away.
    for (const s of streams) s.controller.abort();
    await Promise.all(streams.map((s) => s.done));
    await waitIdle(key.key);

    // The node fails mid-stream.
    const failing = await Promise.all(Array.from({ length: 3 }, () => openStream(key.key, 'die')));
    expect(failing.filter((s) => s.status === 200)).toHaveLength(3);
    await Promise.all(failing.map((s) => s.done));
    await waitIdle(key.key);

    const again = await Promise.all(Array.from({ length: 5 }, () => openStream(key.key, 'hold')));
    expect(again.filter((s) => s.status === 200)).toHaveLength(3);
    for (const s of again) s.controller.abort();
    await Promise.all(again.map((s) => s.done));
    await waitIdle(key.key);
  });

  it('never lets 32 simultaneous requests overspend a token budget; D1 agrees', async () => {
    await admin('PUT', `/prices/${MODEL}`, { input_usd_per_mtok: 3, output_usd_per_mtok: 15 });
    const budget = 150;
    const key = await createKey('w-budget', { token_budget: budget, budget_period: 'total' });
    const answers = await Promise.all(Array.from({ length: 32 }, () => chat(key.key)));
    const ok = answers.filter((a) => a.status === 200).length;
    expect(ok).toBeGreaterThan(0);
    for (const r of answers.filter((a) => a.status !== 200)) {
      expect(r.status).toBe(429);
      expect(errorOf(r)).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
    }
    for (let i = 0; i < 40; i++) {
      const more = await chat(key.key);
      if (more.status === 429) break;
      expect(more.status).toBe(200);
    }
    const seen = await standing(key.key);
    // The rows reach D1 in batches from the object's alarm.
    const sums = () =>
      env.DB.prepare(
        'SELECT count(*) AS requests, coalesce(sum(total_tokens), 0) AS tokens, ' +
          'coalesce(sum(spend_usd), 0) AS spend FROM usage_events WHERE key_id = ?',
      )
        .bind(key.id)
        .first<{ requests: number; tokens: number; spend: number }>();
    await expect
      .poll(async () => (await sums())?.requests, { timeout: 15_000 })
      .toBe(seen.used.requests);
    const rows = await sums();
    expect(rows?.tokens).toBeLessThanOrEqual(budget);
    expect(rows?.tokens).toBeGreaterThan(0);
    expect(seen.used.tokens).toBe(rows?.tokens);
    expect(seen.used.spend_usd).toBeCloseTo(rows?.spend ?? -1, 6);
    expect(seen.used.spend_usd).toBeGreaterThan(0);
  });

  it('gives the openai SDK a RateLimitError with the headers', async () => {
    const key = await createKey('w-sdk', { requests_per_minute: 1, tokens_per_minute: 1000 });
    const client = new OpenAI({
      baseURL: `${ORIGIN}/v1`,
      apiKey: key.key,
      maxRetries: 0,
      fetch: (input, init) => exports.default.fetch(input, init),
    });
    const first = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
      .withResponse();
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    const err = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    if (!(err instanceof RateLimitError)) return;
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(err.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });
});
