import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { MAX_STATS_BUCKETS, assembleStats, nearestRank, statsWindow } from './stats.ts';

describe('statsWindow', () => {
  const now = Date.UTC(2030, 0, 1, 12, 0, 30);

  it('starts on a bucket boundary and ends now', () => {
    const w = statsWindow(now - 125_000, 60, now);
    expect(w.start).toBe(Date.UTC(2030, 0, 1, 11, 58));
    expect(w).toMatchObject({ end: now, bucketMs: 60_000, count: 3 });
  });

  it('defaults to the last hour', () => {
    expect(statsWindow(undefined, 60, now).count).toBe(61);
  });

  it('refuses a since in the future and too many buckets, naming the parameter', () => {
    const future = () => statsWindow(now, 60, now);
    expect(future).toThrow(ApiError);
    expect(future).toThrow(/since/);
    try {
      statsWindow(now - (MAX_STATS_BUCKETS + 1) * 1000, 1, now);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).param).toBe('bucket');
      expect((err as ApiError).status).toBe(400);
    }
    expect(statsWindow(now - MAX_STATS_BUCKETS * 1000 + 1, 1, now).count).toBe(MAX_STATS_BUCKETS);
  });
});

describe('nearestRank', () => {
  it('is ceil(p/100 * n), at least 1', () => {
    expect(nearestRank(1, 50)).toBe(1);
    expect(nearestRank(1, 99)).toBe(1);
    expect(nearestRank(2, 50)).toBe(1);
    expect(nearestRank(3, 50)).toBe(2);
    expect(nearestRank(100, 99)).toBe(99);
    expect(nearestRank(101, 99)).toBe(100);
    expect(nearestRank(200, 50)).toBe(100);
    for (let n = 1; n < 500; n++) {
      for (const p of [50, 99]) expect(nearestRank(n, p)).toBe(Math.ceil((p / 100) * n));
    }
  });
});

describe('assembleStats', () => {
  it('fills empty buckets and divides the last one by the time it has had', () => {
    const start = Date.UTC(2030, 0, 1, 12);
    const w = { start, end: start + 150_000, bucketMs: 60_000, count: 3 };
    const stats = assembleStats(
      w,
      [
        { bucket: 0, requests: 120, errors: 2, promptTokens: 600, completionTokens: 600 },
        { bucket: 2, requests: 30, errors: 0, promptTokens: 30, completionTokens: 0 },
      ],
      [{ bucket: 0, samples: 100, p50: 40, p99: 90 }],
    );
    expect(stats).toEqual({
      object: 'stats',
      since_ms: start,
      until_ms: start + 150_000,
      bucket_s: 60,
      data: [
        {
          start_ms: start,
          requests: 120,
          errors: 2,
          prompt_tokens: 600,
          completion_tokens: 600,
          requests_per_s: 2,
          errors_per_s: 0.033,
          tokens_per_s: 20,
          ttft_samples: 100,
          ttft_p50_ms: 40,
          ttft_p99_ms: 90,
        },
        {
          start_ms: start + 60_000,
          requests: 0,
          errors: 0,
          prompt_tokens: 0,
          completion_tokens: 0,
          requests_per_s: 0,
          errors_per_s: 0,
          tokens_per_s: 0,
          ttft_samples: 0,
          ttft_p50_ms: null,
          ttft_p99_ms: null,
        },
        {
          start_ms: start + 120_000,
          requests: 30,
          errors: 0,
          prompt_tokens: 30,
          completion_tokens: 0,
          requests_per_s: 1,
          errors_per_s: 0,
          tokens_per_s: 1,
          ttft_samples: 0,
          ttft_p50_ms: null,
          ttft_p99_ms: null,
        },
      ],
    });
  });
});
