// GET /admin/v1/stats inside workerd on D1: the percentile query's window functions and
// integer bucket arithmetic run on D1 as they do on libSQL (test/gateway/stats.test.ts).
import { env, exports } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { UsageStatsSchema } from '../../schema/admin.ts';

const ORIGIN = 'http://fleetgate.test';

it('answers buckets with exact TTFT percentiles from D1', async () => {
  const now = Date.now();
  // A bucket eight minutes back, where no other test writes rows.
  const bucketStart = Math.floor((now - 8 * 60_000) / 60_000) * 60_000;
  const ttfts = [50, 10, 40, 20, 30, 90, 70, 60, 80, 100, 110];
  const insert = env.DB.prepare(
    'INSERT INTO usage_events (id, key_id, model, endpoint, stream, status, outcome, ' +
      'prompt_tokens, completion_tokens, total_tokens, latency_ms, ttft_ms, created_at) ' +
      "VALUES (?, 'key_w', 'w', '/v1/chat/completions', 1, 200, ?, 2, 3, 5, 10, ?, ?)",
  );
  await env.DB.batch([
    ...ttfts.map((t, i) => insert.bind(`ws${i}`, 'ok', t, bucketStart + i)),
    insert.bind('ws-err', 'upstream_error', null, bucketStart + 59_999),
  ]);

  const res = await exports.default.fetch(
    `${ORIGIN}/admin/v1/stats?since=${now - 10 * 60_000}&bucket=60`,
    { headers: { authorization: `Bearer ${env.FLEETGATE_ADMIN_TOKEN}` } },
  );
  expect(res.status).toBe(200);
  const stats = UsageStatsSchema.parse(await res.json());
  const bucket = stats.data.find((b) => b.start_ms === bucketStart);
  // 11 sorted values: p50 is the 6th (60), p99 the 11th (110).
  expect(bucket).toEqual({
    start_ms: bucketStart,
    requests: 12,
    errors: 1,
    prompt_tokens: 24,
    completion_tokens: 36,
    requests_per_s: 0.2,
    errors_per_s: 0.017,
    tokens_per_s: 1,
    ttft_samples: 11,
    ttft_p50_ms: 60,
    ttft_p99_ms: 110,
  });
});
