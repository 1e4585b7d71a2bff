// GET /metrics on the Node host: who may read it, and what it reports after real requests
// (a fake engine as the node, the official openai SDK and plain fetch as clients), parsed
// from the Prometheus text exposition.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import { MODEL, chat, createKey, serveModel, type LimitsStack } from '../support/limits.ts';

const ADMIN = 'metrics-admin-token-0123456789';
const METRICS = 'metrics-scrape-token-0123456789';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

// The text exposition format, as a scraper reads it: every sample line, and each metric's
// TYPE, which must come before its samples.
function parseExposition(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (type?.[1] && type[2]) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('# HELP ')) continue;
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1]) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      if (k) labels[k] = v ?? '';
    }
    const family = m[1].replace(/_(bucket|sum|count)$/, '');
    expect(types.has(m[1]) || types.get(family) === 'histogram').toBe(true);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

const find = (samples: Sample[], name: string, labels: Record<string, string>) =>
  samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  find(samples, name, labels).reduce((sum, s) => sum + s.value, 0);

let dir: string;
let gateway: RunningGateway;
let stack: LimitsStack;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-metrics-'));
  gateway = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_METRICS_TOKEN: METRICS,
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

const scrape = (token?: string) =>
  fetch(`${gateway.url}/metrics`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });

describe('GET /metrics', () => {
  it('answers the metrics token and the admin token, nobody else', async () => {
    expect((await scrape()).status).toBe(401);
    expect((await scrape(`${METRICS}x`)).status).toBe(401);
    const key = await createKey(stack, 'not-admin', {});
    expect((await scrape(key.key)).status).toBe(401);
    const ok = await scrape(METRICS);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await scrape(ADMIN)).status).toBe(200);
  });

  it('reports requests, errors, latency and TTFT histograms, tokens, rejections, the fleet and the usage sink', async () => {
    const open = await createKey(stack, 'metrics-open', {});
    const limited = await createKey(stack, 'metrics-limited', { requests_per_minute: 1 });
    expect((await chat(gateway.url, open.key)).status).toBe(200);
    const client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: open.key, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'stream please' }],
      max_tokens: 3,
      stream: true,
    });
    for await (const chunk of stream) expect(chunk.object).toBe('chat.completion.chunk');
    expect((await chat(gateway.url, limited.key)).status).toBe(200);
    expect((await chat(gateway.url, limited.key)).status).toBe(429);
    expect((await chat(gateway.url, open.key, { model: 'no-such-model' })).status).toBe(404);

    // The stream's usage is recorded as its answer ends: poll until all three are counted.
    let samples: Sample[] = [];
    for (let i = 0; i < 50; i++) {
      const res = await scrape(METRICS);
      samples = parseExposition(await res.text()).samples;
      const ok = value(samples, 'fleetgate_requests_total', { model: MODEL, status: '200' });
      if (ok >= 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(
      value(samples, 'fleetgate_requests_total', {
        model: MODEL,
        endpoint: '/v1/chat/completions',
        status: '200',
      }),
    ).toBe(3);
    expect(
      value(samples, 'fleetgate_limit_rejections_total', { limit: 'requests_per_minute' }),
    ).toBe(1);
    expect(
      value(samples, 'fleetgate_tokens_total', { model: MODEL, type: 'completion' }),
    ).toBeGreaterThan(0);
    expect(
      value(samples, 'fleetgate_tokens_total', { model: MODEL, type: 'prompt' }),
    ).toBeGreaterThan(0);

    // Histograms: cumulative buckets, +Inf equal to the count, a sum.
    const count = value(samples, 'fleetgate_request_duration_seconds_count', { model: MODEL });
    expect(count).toBeGreaterThanOrEqual(3);
    const buckets = find(samples, 'fleetgate_request_duration_seconds_bucket', { model: MODEL });
    const values = buckets.map((b) => b.value);
    expect(values).toEqual([...values].sort((a, b) => a - b));
    expect(buckets.find((b) => b.labels.le === '+Inf')?.value).toBe(count);
    expect(
      value(samples, 'fleetgate_time_to_first_token_seconds_count', { model: MODEL }),
    ).toBeGreaterThanOrEqual(1);

    // The fleet, from the database; the usage sink of the Node host.
    expect(value(samples, 'fleetgate_nodes', { state: 'online' })).toBe(1);
    expect(value(samples, 'fleetgate_instances', { state: 'ready' })).toBe(1);
    expect(find(samples, 'fleetgate_usage_events_pending', {})).toHaveLength(1);
    expect(value(samples, 'fleetgate_usage_events_dropped_total')).toBe(0);

    // No per-key label unless the operator turns it on.
    expect(samples.some((s) => 'key_id' in s.labels)).toBe(false);
  });
});
