// Per-key limits, budgets and prices on the Node host with its in-process limiter: the
// gateway started by startGateway() on a real port over a libSQL file, a fake engine as
// the node, the official openai SDK as one of the clients.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { RateLimitError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import { AdminApiError } from '../support/stack.ts';
import {
  MODEL,
  chat,
  concurrencyIsExact,
  createKey,
  errorOf,
  requestsPerMinuteIsExact,
  serveModel,
  standing,
  tokenBudgetIsNeverOverspent,
  type LimitsStack,
} from '../support/limits.ts';

const ADMIN = 'limits-admin-token-0123456789';
let dir: string;
let gateway: RunningGateway;
let stack: LimitsStack;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-limits-'));
  gateway = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HEARTBEAT_INTERVAL_S: '1',
    },
  });
  stack = await serveModel([gateway.url], ADMIN);
});

afterAll(async () => {
  await stack.close();
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

async function adminError(method: string, path: string, body: unknown) {
  try {
    await stack.admin.request(method, path, body);
  } catch (err) {
    if (err instanceof AdminApiError) return { status: err.status, body: err.body };
    throw err;
  }
  throw new Error(`${method} ${path} succeeded`);
}

describe('limits on a key (admin API)', () => {
  it('creates, shows, patches and clears limits', async () => {
    const key = await createKey(stack, 'admin-limits', {
      requests_per_minute: 600,
      spend_budget_usd: 12.5,
      budget_period: 'week',
    });
    expect(key.limits).toEqual({
      requests_per_minute: 600,
      tokens_per_minute: null,
      max_concurrent_requests: null,
      token_budget: null,
      spend_budget_usd: 12.5,
      budget_period: 'week',
    });
    const patched = await stack.admin.request<{ limits: Record<string, unknown> }>(
      'PATCH',
      `/keys/${key.id}`,
      { limits: { requests_per_minute: null, token_budget: 1000 } },
    );
    expect(patched.limits).toMatchObject({
      requests_per_minute: null,
      token_budget: 1000,
      spend_budget_usd: 12.5,
    });
    const list = await stack.admin.request<{ data: { id: string; limits: unknown }[] }>(
      'GET',
      '/keys',
    );
    expect(list.data.find((k) => k.id === key.id)?.limits).toEqual(patched.limits);
    const one = await stack.admin.request<Record<string, unknown>>('GET', `/keys/${key.id}`);
    expect(one).toMatchObject({
      limits: patched.limits,
      period: { name: 'week' },
      used: { requests: 0, tokens: 0, spend_usd: 0 },
      token_budget: { limit: 1000, used: 0, remaining: 1000 },
    });
    const cleared = await stack.admin.request<{ limits: Record<string, unknown> }>(
      'PATCH',
      `/keys/${key.id}`,
      { limits: null },
    );
    expect(Object.values(cleared.limits).every((v) => v === null)).toBe(true);
  });

  it.each([
    [{ requests_per_minute: -1 }, 'limits.requests_per_minute'],
    [{ requests_per_minute: 0 }, 'limits.requests_per_minute'],
    [{ tokens_per_minute: 1.5 }, 'limits.tokens_per_minute'],
    [{ max_concurrent_requests: 1e12 }, 'limits.max_concurrent_requests'],
    [{ spend_budget_usd: -3 }, 'limits.spend_budget_usd'],
    [{ budget_period: 'year' }, 'limits.budget_period'],
    [{ per_hour: 5 }, 'limits'],
  ])('refuses limits %j naming %s, writing nothing', async (limits, param) => {
    const before = await stack.admin.request<{ data: unknown[] }>('GET', '/keys');
    const res = await adminError('POST', '/keys', { name: 'bad', limits });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { param } });
    const after = await stack.admin.request<{ data: unknown[] }>('GET', '/keys');
    expect(after.data).toHaveLength(before.data.length);
  });

  it('refuses a bad patch without changing the key', async () => {
    const key = await createKey(stack, 'patch-bad', { requests_per_minute: 5 });
    const res = await adminError('PATCH', `/keys/${key.id}`, {
      name: 'renamed',
      limits: { token_budget: 0 },
    });
    expect(res.body).toMatchObject({ error: { param: 'limits.token_budget' } });
    const one = await stack.admin.request<{ name: string; limits: unknown }>(
      'GET',
      `/keys/${key.id}`,
    );
    expect(one.name).toBe('patch-bad');
    expect(one.limits).toMatchObject({ requests_per_minute: 5, token_budget: null });
  });
});

describe('prices', () => {
  it('sets, lists and removes a price; refuses a negative one', async () => {
    const model = 'org/priced-model';
    const set = await stack.admin.request('PUT', `/prices/${model}`, {
      input_usd_per_mtok: 0.5,
      output_usd_per_mtok: 1.5,
    });
    expect(set).toMatchObject({ model, input_usd_per_mtok: 0.5, output_usd_per_mtok: 1.5 });
    const list = await stack.admin.request<{ data: { model: string }[] }>('GET', '/prices');
    expect(list.data.map((p) => p.model)).toContain(model);
    const bad = await adminError('PUT', `/prices/${model}`, {
      input_usd_per_mtok: -1,
      output_usd_per_mtok: 1,
    });
    expect(bad.body).toMatchObject({ error: { param: 'input_usd_per_mtok' } });
    await stack.admin.request('DELETE', `/prices/${model}`);
    const gone = await adminError('DELETE', `/prices/${model}`, undefined);
    expect(gone.status).toBe(404);
  });
});

describe('enforcement on the Node host (in-process limiter)', () => {
  it('admits exactly requests_per_minute of 50 simultaneous requests', async () => {
    await requestsPerMinuteIsExact(stack);
  });

  it('admits exactly max_concurrent_requests of 20 simultaneous streams', async () => {
    await concurrencyIsExact(stack);
  });

  it('never lets 32 simultaneous requests overspend a token budget', async () => {
    await tokenBudgetIsNeverOverspent(stack);
  });

  it('refuses a request larger than tokens_per_minute, and caps what it reserves', async () => {
    const key = await createKey(stack, 'tpm', { tokens_per_minute: 100 });
    const big = await chat(gateway.url, key.key, { max_tokens: 500 });
    expect(big.status).toBe(429);
    expect(errorOf(big)).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded' });
    expect(errorOf(big).message).toContain('Limit 100, Used 0, Requested 522');
    // No max_tokens from the client: the default cap is reserved and sent to the engine,
    // here larger than the whole limit.
    const uncapped = await chat(gateway.url, key.key, { max_tokens: undefined });
    expect(uncapped.status).toBe(429);
    const fits = await chat(gateway.url, key.key);
    expect(fits.status).toBe(200);
    expect(fits.headers.get('x-ratelimit-limit-tokens')).toBe('100');
    expect(fits.headers.get('x-ratelimit-remaining-tokens')).toBe('75');
    expect(fits.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+ms|(\d+m)?[\d.]+s)$/);
  });

  it('sends the x-ratelimit headers with a stream', async () => {
    const key = await createKey(stack, 'stream-headers', {
      requests_per_minute: 5,
      tokens_per_minute: 1000,
    });
    const res = await fetch(`${gateway.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 3,
        stream: true,
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('5');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('4');
    expect(res.headers.get('x-ratelimit-limit-tokens')).toBe('1000');
    expect(res.headers.get('x-ratelimit-remaining-tokens')).toBe('975');
    expect(res.headers.get('x-ratelimit-reset-tokens')).toBe('1m0s');
    await res.text();
  });

  it('sends them with the model list too', async () => {
    const key = await createKey(stack, 'models-headers', { requests_per_minute: 7 });
    const res = await fetch(`${gateway.url}/v1/models`, {
      headers: { authorization: `Bearer ${key.key}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-ratelimit-limit-requests')).toBe('7');
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('7');
    await res.text();
  });

  it('gives the openai SDK a RateLimitError with the headers', async () => {
    const key = await createKey(stack, 'sdk', { requests_per_minute: 1 });
    const client = new OpenAI({ apiKey: key.key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const first = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 })
      .withResponse();
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    const err = await client.chat.completions
      .create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RateLimitError);
    if (!(err instanceof RateLimitError)) return;
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limit_exceeded');
    expect(err.type).toBe('requests');
    expect(err.headers.get('x-ratelimit-limit-requests')).toBe('1');
    expect(err.headers.get('x-ratelimit-reset-requests')).toMatch(/s$/);
    expect(Number(err.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('shows a key holder their own standing at GET /v1/key', async () => {
    const key = await createKey(stack, 'self', {
      requests_per_minute: 100,
      tokens_per_minute: 10_000,
      token_budget: 1_000_000,
      budget_period: 'month',
    });
    await stack.admin.request('PUT', `/prices/${MODEL}`, {
      input_usd_per_mtok: 2,
      output_usd_per_mtok: 6,
    });
    expect((await chat(gateway.url, key.key)).status).toBe(200);
    await expect.poll(async () => (await standing(gateway.url, key.key)).in_flight).toBe(0);
    const res = await fetch(`${gateway.url}/v1/key`, {
      headers: { authorization: `Bearer ${key.key}` },
    });
    expect(res.headers.get('x-ratelimit-remaining-requests')).toBe('99');
    const body = await res.json<Record<string, unknown>>();
    const monthStart = new Date();
    monthStart.setUTCDate(1);
    monthStart.setUTCHours(0, 0, 0, 0);
    expect(body).toMatchObject({
      id: key.id,
      object: 'api_key',
      name: 'self',
      models: null,
      limits: { requests_per_minute: 100, token_budget: 1_000_000, budget_period: 'month' },
      period: { name: 'month', start: monthStart.getTime() / 1000 },
      // The engine reports 11 prompt and 3 completion tokens.
      used: { requests: 1, tokens: 14, spend_usd: (11 * 2 + 3 * 6) / 1e6 },
      in_flight: 0,
      token_budget: { limit: 1_000_000, used: 14, reserved: 0, remaining: 999_986 },
      requests_per_minute: { limit: 100, remaining: 99 },
      tokens_per_minute: { limit: 10_000, remaining: 10_000 - 14 },
    });
    expect(JSON.stringify(body)).not.toContain(key.key);
  });
});
