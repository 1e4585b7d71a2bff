// GET /admin/v1/stats over usage rows written straight to the database: buckets, sums,
// and TTFT percentiles checked against a plain sort of the same values.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageStatsSchema } from '../../schema/admin.ts';
import { usageEvents } from '../../schema/db.ts';
import {
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

// The nearest-rank percentile, the textbook way.
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const value = sorted[Math.ceil((p / 100) * sorted.length) - 1];
  if (value === undefined) throw new Error('no values');
  return value;
}

describe('stats', () => {
  // Twelve o'clock and 10 s; buckets of a minute.
  const base = Date.UTC(2030, 0, 1, 12);
  const now = base + 3 * 60_000 + 10_000;
  let h: GatewayHarness;
  // A deterministic spread of TTFTs, with ties, in the first bucket.
  const ttfts = Array.from({ length: 257 }, (_, i) => (i * 7919) % 401);

  beforeAll(async () => {
    h = await startGatewayHarness({ clock: now });
    let n = 0;
    const row = (
      createdAt: number,
      outcome: string,
      ttftMs: number | null,
      tokens: [number, number] = [3, 5],
    ) => ({
      id: `s${n++}`,
      keyId: 'key_s',
      model: 'alpha',
      endpoint: '/v1/chat/completions',
      nodeId: 'node_s',
      instanceId: 'inst_s',
      stream: ttftMs !== null,
      status: outcome === 'error' ? 429 : 200,
      outcome,
      errorCode: null,
      promptTokens: tokens[0],
      completionTokens: tokens[1],
      totalTokens: tokens[0] + tokens[1],
      latencyMs: 100,
      ttftMs,
      createdAt,
    });
    const rows = [
      ...ttfts.map((t, i) => row(base + (i % 60_000), 'ok', t)),
      // Not streamed: counted, but no TTFT.
      row(base + 59_999, 'ok', null),
      row(base + 10, 'error', null, [0, 0]),
      row(base + 11, 'upstream_error', null, [7, 0]),
      row(base + 12, 'client_aborted', 9, [1, 1]),
      // The third bucket: two streams.
      row(base + 2 * 60_000, 'ok', 30),
      row(base + 2 * 60_000 + 1, 'ok', 10),
      // The last bucket, 10 s old: one request.
      row(base + 3 * 60_000 + 5000, 'ok', null, [50, 50]),
      // Before the window, and after now.
      row(base - 1, 'ok', 1),
      row(now, 'ok', 1),
    ];
    for (let i = 0; i < rows.length; i += 10) {
      await h.db.insert(usageEvents).values(rows.slice(i, i + 10));
    }
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers every bucket with sums, rates and exact percentiles', async () => {
    const res = await h.adminOk(UsageStatsSchema, 'GET', `/stats?since=${base + 30_000}&bucket=60`);
    const stats = res.body;
    expect(stats.since_ms).toBe(base);
    expect(stats.until_ms).toBe(now);
    expect(stats.bucket_s).toBe(60);
    expect(stats.data.map((b) => b.start_ms)).toEqual([0, 1, 2, 3].map((i) => base + i * 60_000));

    const [first, second, third, last] = stats.data;
    const firstTtfts = [...ttfts, 9];
    expect(first).toEqual({
      start_ms: base,
      requests: 257 + 4,
      errors: 2,
      prompt_tokens: 257 * 3 + 3 + 0 + 7 + 1,
      completion_tokens: 257 * 5 + 5 + 0 + 0 + 1,
      requests_per_s: Math.round((261 / 60) * 1000) / 1000,
      errors_per_s: Math.round((2 / 60) * 1000) / 1000,
      tokens_per_s: Math.round(((257 * 8 + 8 + 7 + 2) / 60) * 1000) / 1000,
      ttft_samples: firstTtfts.length,
      ttft_p50_ms: percentile(firstTtfts, 50),
      ttft_p99_ms: percentile(firstTtfts, 99),
    });
    expect(second).toMatchObject({ requests: 0, ttft_samples: 0, ttft_p50_ms: null });
    expect(third).toMatchObject({ requests: 2, ttft_samples: 2, ttft_p50_ms: 10, ttft_p99_ms: 30 });
    // 100 tokens in the 10 s the last bucket has had.
    expect(last).toMatchObject({ requests: 1, requests_per_s: 0.1, tokens_per_s: 10 });
  });

  it('defaults to the last hour by minutes', async () => {
    const res = await h.adminOk(UsageStatsSchema, 'GET', '/stats');
    expect(res.body.bucket_s).toBe(60);
    expect(res.body.data).toHaveLength(61);
    expect(res.body.data.reduce((sum, b) => sum + b.requests, 0)).toBe(257 + 4 + 2 + 1 + 1);
  });

  it('refuses bad parameters with a 400 naming them', async () => {
    expectError(await h.admin('GET', '/stats?bucket=0'), 400, 'invalid_value');
    expect((await h.admin('GET', '/stats?bucket=abc')).status).toBe(400);
    const tooMany = expectError(
      await h.admin('GET', `/stats?since=${now - 3600_000}&bucket=1`),
      400,
      'too_many_buckets',
    );
    expect(tooMany.param).toBe('bucket');
    expect(expectError(await h.admin('GET', `/stats?since=${now}`), 400).param).toBe('since');
    expect((await h.call('GET', '/admin/v1/stats')).status).toBe(401);
  });
});
