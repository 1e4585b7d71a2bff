// The arithmetic of GET /admin/v1/stats (the dashboard's charts), apart from its queries
// (store/stats.ts): the window of buckets a query asks for, and the answer assembled from
// per-bucket totals and percentiles, every bucket present (empty ones as zeros).
import type { StatsBucket, UsageStats } from '../../../schema/admin.ts';
import { badRequest } from '../errors.ts';

// Enough for an hour by 10 s or a day by 2 min; the percentile query returns two rows per
// bucket at most, so the answer stays small whatever the traffic.
export const MAX_STATS_BUCKETS = 720;
export const DEFAULT_STATS_BUCKET_S = 60;
export const DEFAULT_STATS_SPAN_MS = 3600_000;
export const MAX_STATS_BUCKET_S = 86_400;

export interface StatsWindow {
  // Inclusive, on a bucket boundary (a multiple of bucketMs since the epoch, so a chart
  // polled again keeps its buckets).
  start: number;
  // Exclusive: now.
  end: number;
  bucketMs: number;
  count: number;
}

// The window from `since` (unix ms; default an hour ago) to now, by buckets of `bucketS`.
export function statsWindow(since: number | undefined, bucketS: number, now: number): StatsWindow {
  const bucketMs = bucketS * 1000;
  const from = since ?? now - DEFAULT_STATS_SPAN_MS;
  if (from >= now) throw badRequest("'since' must be in the past", 'since', 'invalid_value');
  const start = Math.floor(from / bucketMs) * bucketMs;
  const count = Math.ceil((now - start) / bucketMs);
  if (count > MAX_STATS_BUCKETS) {
    throw badRequest(
      `'since' and 'bucket' make ${count} buckets; at most ${MAX_STATS_BUCKETS}: choose a larger bucket or a later since`,
      'bucket',
      'too_many_buckets',
    );
  }
  return { start, end: now, bucketMs, count };
}

// The nearest-rank percentile's 1-based rank among n sorted values: ceil(p/100 * n), in
// integers (the query computes the same in SQL).
export function nearestRank(n: number, p: number): number {
  return Math.max(1, Math.floor((n * p + 99) / 100));
}

// Sums of one bucket (index counted from the window's start).
export interface BucketTotals {
  bucket: number;
  requests: number;
  errors: number;
  promptTokens: number;
  completionTokens: number;
}

export interface BucketPercentiles {
  bucket: number;
  samples: number;
  p50: number | null;
  p99: number | null;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

export function assembleStats(
  window: StatsWindow,
  totals: readonly BucketTotals[],
  percentiles: readonly BucketPercentiles[],
): UsageStats {
  const byBucket = new Map(totals.map((t) => [t.bucket, t]));
  const ttft = new Map(percentiles.map((p) => [p.bucket, p]));
  const data: StatsBucket[] = [];
  for (let i = 0; i < window.count; i++) {
    const startMs = window.start + i * window.bucketMs;
    // The last bucket has only been filling since its start.
    const seconds = Math.min(window.bucketMs, window.end - startMs) / 1000;
    const t = byBucket.get(i);
    const p = ttft.get(i);
    const requests = t?.requests ?? 0;
    const tokens = (t?.promptTokens ?? 0) + (t?.completionTokens ?? 0);
    data.push({
      start_ms: startMs,
      requests,
      errors: t?.errors ?? 0,
      prompt_tokens: t?.promptTokens ?? 0,
      completion_tokens: t?.completionTokens ?? 0,
      requests_per_s: round3(requests / seconds),
      errors_per_s: round3((t?.errors ?? 0) / seconds),
      tokens_per_s: round3(tokens / seconds),
      ttft_samples: p?.samples ?? 0,
      ttft_p50_ms: p?.p50 ?? null,
      ttft_p99_ms: p?.p99 ?? null,
    });
  }
  return {
    object: 'stats',
    since_ms: window.start,
    until_ms: window.end,
    bucket_s: window.bucketMs / 1000,
    data,
  };
}
