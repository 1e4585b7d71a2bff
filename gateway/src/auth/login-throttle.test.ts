import { describe, expect, it } from 'vitest';
import { retryAfterMs, userThrottleKey, type ThrottleRule } from './login-throttle.ts';

const rule: ThrottleRule = { limit: 3, windowMs: 60_000 };

describe('login throttle arithmetic', () => {
  it('lets a key try while it has fewer failures than the limit', () => {
    expect(retryAfterMs(undefined, rule, 1000)).toBe(0);
    expect(retryAfterMs({ failures: 2, windowStart: 0 }, rule, 1000)).toBe(0);
  });

  it('refuses a key at the limit until its window ends', () => {
    expect(retryAfterMs({ failures: 3, windowStart: 0 }, rule, 1000)).toBe(59_000);
    expect(retryAfterMs({ failures: 9, windowStart: 0 }, rule, 59_999)).toBe(1);
    expect(retryAfterMs({ failures: 9, windowStart: 0 }, rule, 60_000)).toBe(0);
  });

  it('counts a username the same whatever its case', () => {
    expect(userThrottleKey('Alice')).toBe(userThrottleKey('alice'));
  });
});
