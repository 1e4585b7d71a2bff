// The limit scenarios of issue 8, run against one or several gateways over real HTTP: a
// fake engine (a real HTTP server) registered as a node through the node API, keys with
// limits made through the admin API, and many requests at once. Shared by the Node host
// test (in-process limiter) and the Redis test (two gateway processes, one Redis); the
// requests of a scenario are spread over the gateways given.
import { expect } from 'vitest';
import type { Jwks, RegisterResponse } from '../../schema/contracts.ts';
import { startFakeEngine, type FakeEngine } from '../../gateway/src/testing/fake-engine.ts';
import { adminApi, type AdminApi } from './stack.ts';

export const MODEL = 'limited-model';

export interface LimitsStack {
  urls: string[];
  admin: AdminApi;
  engine: FakeEngine;
  close(): Promise<void>;
}

interface Deployment {
  id: string;
  instances: { id: string }[];
}

// Registers the fake engine as a node serving MODEL and keeps it heartbeating.
export async function serveModel(urls: string[], adminToken: string): Promise<LimitsStack> {
  const [first] = urls;
  if (!first) throw new Error('no gateway');
  const admin = adminApi(first, adminToken);
  let jwks: Jwks = { keys: [] };
  const engine = await startFakeEngine({ jwks: () => jwks });
  const { token } = await admin.request<{ token: string }>('POST', '/registration-tokens', {});
  const res = await fetch(`${first}/node/v1/register`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: 'limits-node',
      advertise_url: engine.url,
      gpus: [],
      daemon_version: 'test',
    }),
  });
  expect(res.status).toBe(201);
  const node = await res.json<RegisterResponse>();
  jwks = node.jwks;
  const dep = await admin.request<Deployment>('POST', '/deployments', {
    model: MODEL,
    recipe: 'external',
    options: { url: engine.url },
    placement: { node_id: node.node_id },
  });
  const instance = dep.instances[0];
  if (!instance) throw new Error('not placed');
  const beat = () =>
    fetch(`${first}/node/v1/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.node_secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        daemon_version: 'test',
        gpus: [],
        instances: [{ instance_id: instance.id, deployment_id: dep.id, state: 'ready' }],
        in_flight: 0,
        queued: 0,
      }),
    }).then((r) => r.body?.cancel());
  await beat();
  const timer = setInterval(() => void beat().catch(() => undefined), 1000);
  return {
    urls,
    admin,
    engine,
    async close() {
      clearInterval(timer);
      await engine.close();
    },
  };
}

export interface KeyObject {
  id: string;
  key: string;
  limits: Record<string, unknown>;
}

export const createKey = (stack: LimitsStack, name: string, limits: Record<string, unknown>) =>
  stack.admin.request<KeyObject>('POST', '/keys', { name, limits });

export interface Sent {
  status: number;
  headers: Headers;
  body: unknown;
}

// One chat completion; the answer read to its end.
export async function chat(
  url: string,
  key: string,
  extra: Record<string, unknown> = {},
): Promise<Sent> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
      ...extra,
    }),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

export const errorOf = (sent: Sent) =>
  (sent.body as { error: { type: string; code: string; message: string } }).error;

export interface Standing {
  used: { requests: number; tokens: number; spend_usd: number };
  in_flight: number;
  token_budget: { limit: number; used: number; remaining: number } | null;
}

export async function standing(url: string, key: string): Promise<Standing> {
  const res = await fetch(`${url}/v1/key`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return res.json<Standing>();
}

interface UsageRow {
  id: string;
  total_tokens: number;
  spend_usd: number;
  status: number;
}

export async function usageRows(stack: LimitsStack, keyId: string): Promise<UsageRow[]> {
  const rows = await stack.admin.request<{ data: UsageRow[] }>(
    'GET',
    `/usage/events?key_id=${keyId}&limit=1000&from=0`,
  );
  return rows.data;
}

const at = (urls: string[], i: number) => urls[i % urls.length] ?? '';

// 50 requests at once against requests_per_minute 10: exactly 10 admitted.
export async function requestsPerMinuteIsExact(stack: LimitsStack): Promise<void> {
  const key = await createKey(stack, 'rpm', { requests_per_minute: 10 });
  const answers = await Promise.all(
    Array.from({ length: 50 }, (_, i) => chat(at(stack.urls, i), key.key)),
  );
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  expect(ok).toHaveLength(10);
  expect(refused).toHaveLength(40);
  for (const r of refused) {
    expect(errorOf(r)).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    expect(errorOf(r).message).toContain('Limit 10, Used 10, Requested 1');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(r.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(r.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  }
  for (const a of ok) {
    expect(a.headers.get('x-ratelimit-limit-requests')).toBe('10');
    expect(a.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+ms|(\d+m)?[\d.]+s)$/);
  }
  const remaining = ok.map((a) => Number(a.headers.get('x-ratelimit-remaining-requests')));
  expect(remaining.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

interface OpenStream {
  status: number;
  controller: AbortController;
  done: Promise<void>;
}

// A stream held open: resolves once its headers (and, when admitted, its first bytes) are in.
async function openStream(url: string, key: string, scenario: string): Promise<OpenStream> {
  const controller = new AbortController();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 3,
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
  return { status: res.status, controller, done };
}

const countStatus = (streams: OpenStream[], status: number) =>
  streams.filter((s) => s.status === status).length;

async function waitIdle(url: string, key: string): Promise<void> {
  await expect.poll(async () => (await standing(url, key)).in_flight, { timeout: 10_000 }).toBe(0);
}

// 20 streams at once against max_concurrent_requests 3: exactly 3 admitted; their slots
// come back when the clients abort, and when the node fails mid-stream.
export async function concurrencyIsExact(stack: LimitsStack): Promise<void> {
  const key = await createKey(stack, 'concurrent', { max_concurrent_requests: 3 });
  const first = stack.urls[0] ?? '';
  const streams = await Promise.all(
    Array.from({ length: 20 }, (_, i) => openStream(at(stack.urls, i), key.key, 'slow')),
  );
  expect(countStatus(streams, 200)).toBe(3);
  expect(countStatus(streams, 429)).toBe(17);
  expect((await standing(first, key.key)).in_flight).toBe(3);

  // The clients go away: the gateway releases the slots.
  for (const s of streams) s.controller.abort();
  await Promise.all(streams.map((s) => s.done));
  await waitIdle(first, key.key);

  // The node dies mid-stream in each of 3 admitted streams: the slots come back too.
  const failing = await Promise.all(
    Array.from({ length: 3 }, (_, i) => openStream(at(stack.urls, i), key.key, 'die-mid-stream')),
  );
  expect(countStatus(failing, 200)).toBe(3);
  await Promise.all(failing.map((s) => s.done));
  await waitIdle(first, key.key);

  const again = await Promise.all(
    Array.from({ length: 5 }, (_, i) => openStream(at(stack.urls, i), key.key, 'slow')),
  );
  expect(countStatus(again, 200)).toBe(3);
  for (const s of again) s.controller.abort();
  await Promise.all(again.map((s) => s.done));
  await waitIdle(first, key.key);
}

// 32 requests at once against a token budget: recorded usage never goes over it, and the
// key's standing equals the sum of its usage rows.
export async function tokenBudgetIsNeverOverspent(stack: LimitsStack): Promise<void> {
  await stack.admin.request('PUT', `/prices/${MODEL}`, {
    input_usd_per_mtok: 2,
    output_usd_per_mtok: 6,
  });
  const budget = 200;
  const key = await createKey(stack, 'budget', { token_budget: budget, budget_period: 'day' });
  const answers = await Promise.all(
    Array.from({ length: 32 }, (_, i) => chat(at(stack.urls, i), key.key)),
  );
  const ok = answers.filter((a) => a.status === 200);
  const refused = answers.filter((a) => a.status === 429);
  expect(ok.length + refused.length).toBe(32);
  expect(ok.length).toBeGreaterThan(0);
  expect(refused.length).toBeGreaterThan(0);
  for (const r of refused) {
    expect(errorOf(r)).toMatchObject({ type: 'insufficient_quota', code: 'insufficient_quota' });
  }
  // Once settled, more fits: keep going until the budget refuses everything.
  for (let i = 0; i < 40; i++) {
    const more = await chat(at(stack.urls, i), key.key);
    if (more.status === 429) break;
    expect(more.status).toBe(200);
  }
  // Both figures read afresh each time: a request is counted when it finishes, after its
  // answer reached the client, and its row is written later still (the sink's batch).
  await expect
    .poll(
      async () => {
        const [rows, s] = await Promise.all([
          usageRows(stack, key.id),
          standing(at(stack.urls, 0), key.key),
        ]);
        return rows.length > 0 && rows.length === s.used.requests;
      },
      { timeout: 10_000 },
    )
    .toBe(true);
  const rows = await usageRows(stack, key.id);
  const tokens = rows.reduce((n, r) => n + r.total_tokens, 0);
  const spend = rows.reduce((n, r) => n + r.spend_usd, 0);
  expect(tokens).toBeLessThanOrEqual(budget);
  expect(tokens).toBeGreaterThan(0);
  for (const url of stack.urls) {
    const s = await standing(url, key.key);
    expect(s.used.tokens).toBe(tokens);
    expect(s.used.spend_usd).toBeCloseTo(spend, 9);
    expect(s.used.requests).toBe(rows.length);
    expect(s.token_budget).toMatchObject({ limit: budget, used: tokens });
  }
  expect(spend).toBeGreaterThan(0);
}
