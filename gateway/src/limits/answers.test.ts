import { describe, expect, it } from 'vitest';
import { formatDuration, rateLimitHeaders, refusalError } from './answers.ts';
import { capField, reserveTokens } from './estimate.ts';

describe('formatDuration', () => {
  it('writes durations as OpenAI does', () => {
    expect(formatDuration(120)).toBe('120ms');
    expect(formatDuration(0)).toBe('0ms');
    expect(formatDuration(1000)).toBe('1s');
    expect(formatDuration(1500)).toBe('1.5s');
    expect(formatDuration(360_000)).toBe('6m0s');
    expect(formatDuration(3_723_000)).toBe('1h2m3s');
    expect(formatDuration(0.2)).toBe('1ms');
  });
});

describe('429 answers', () => {
  const report = {
    requests: { limit: 10, remaining: 0, resetMs: 59_000 },
    tokens: { limit: 1000, remaining: 200, resetMs: 1500 },
  };

  it('names the limit, what was used and requested, with retry-after', () => {
    const err = refusalError(
      { limit: 'requests_per_minute', max: 10, used: 10, requested: 1, retryAfterMs: 2500 },
      report,
    );
    expect(err.status).toBe(429);
    expect(err.body().error).toEqual({
      type: 'requests',
      code: 'rate_limit_exceeded',
      param: null,
      message:
        'Rate limit reached for this API key on requests per minute (RPM): Limit 10, Used 10, Requested 1. Please try again in 2.5s.',
    });
    expect(err.headers).toEqual({
      'x-ratelimit-limit-requests': '10',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '59s',
      'x-ratelimit-limit-tokens': '1000',
      'x-ratelimit-remaining-tokens': '200',
      'x-ratelimit-reset-tokens': '1.5s',
      'retry-after': '3',
      'retry-after-ms': '2500',
    });
  });

  it('answers a spent budget with insufficient_quota', () => {
    const err = refusalError(
      { limit: 'spend_budget_usd', max: 5, used: 4.99, requested: 0.02, retryAfterMs: null },
      { requests: null, tokens: null },
      'total',
    );
    expect(err.body().error).toMatchObject({
      type: 'insufficient_quota',
      code: 'insufficient_quota',
    });
    expect(err.message).toContain('Limit $5, Used $4.99, Requested $0.02');
    expect(err.headers).toEqual({});
  });

  it('sends headers only for the limits a key has', () => {
    expect(rateLimitHeaders({ requests: null, tokens: null })).toEqual({});
  });
});

describe('token reservation', () => {
  it('bounds the prompt by its UTF-8 bytes and adds the completion cap', () => {
    const body = { messages: [{ role: 'user', content: 'héllo' }], max_tokens: 10 };
    // 8 per prompt + 8 per message + 'user' (4) + 'héllo' (6 bytes)
    expect(reserveTokens('/v1/chat/completions', body, 4096)).toEqual({
      promptTokens: 26,
      completionTokens: 10,
      capAdded: false,
      images: 0,
    });
  });

  it('prefers max_completion_tokens, multiplies by n, and falls back to the default cap', () => {
    const path = '/v1/chat/completions';
    expect(
      reserveTokens(path, { messages: [], max_tokens: 50, max_completion_tokens: 5, n: 2 }, 9)
        .completionTokens,
    ).toBe(10);
    expect(reserveTokens(path, { messages: [] }, 9)).toMatchObject({
      completionTokens: 9,
      capAdded: true,
    });
    expect(reserveTokens('/v1/embeddings', { input: ['ab', [1, 2, 3]] }, 9)).toEqual({
      promptTokens: 5,
      completionTokens: 0,
      capAdded: false,
      images: 0,
    });
  });

  it('reserves per endpoint: output cap of responses, images, scoring and audio', () => {
    expect(reserveTokens('/v1/responses', { input: 'hi', max_output_tokens: 7 }, 9)).toEqual({
      promptTokens: 8 + 8 + 2,
      completionTokens: 7,
      capAdded: false,
      images: 0,
    });
    expect(reserveTokens('/v1/responses', { input: 'hi' }, 9)).toMatchObject({ capAdded: true });
    expect(capField('/v1/responses')).toBe('max_output_tokens');
    expect(reserveTokens('/v1/images/generations', { prompt: 'cat', n: 3 }, 9)).toEqual({
      promptTokens: 8 + 3,
      completionTokens: 0,
      capAdded: false,
      images: 3,
    });
    expect(reserveTokens('/v1/rerank', { query: 'q', documents: ['ab', 'cd'] }, 9)).toEqual({
      promptTokens: 8 + 1 + 4 + 2 * 8,
      completionTokens: 0,
      capAdded: false,
      images: 0,
    });
    // An upload's fields are not read: the default cap, never added to the body.
    expect(reserveTokens('/v1/audio/transcriptions', {}, 9)).toEqual({
      promptTokens: 0,
      completionTokens: 9,
      capAdded: false,
      images: 0,
    });
  });
});
