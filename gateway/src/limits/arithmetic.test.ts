import { describe, expect, it } from 'vitest';
import {
  admit,
  emptyState,
  finish,
  loadUsage,
  NO_LIMITS,
  periodToLoad,
  snapshot,
  WINDOW_MS,
  type KeyLimits,
} from './arithmetic.ts';
import { periodOf } from './period.ts';

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const limits = (l: Partial<KeyLimits>): KeyLimits => ({ ...NO_LIMITS, ...l });
const req = (id: string, now = T0, tokens = 0, spendUsd = 0) => ({ id, now, tokens, spendUsd });

describe('requests per minute (sliding log)', () => {
  it('admits exactly the limit within any 60 s and refuses the next', () => {
    const state = emptyState();
    const l = limits({ requestsPerMinute: 60 });
    for (let i = 0; i < 60; i++) expect(admit(state, l, req(`r${i}`, T0 + i * 100)).ok).toBe(true);
    const refused = admit(state, l, req('r60', T0 + 6000));
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.refusal).toEqual({
      limit: 'requests_per_minute',
      max: 60,
      used: 60,
      requested: 1,
      // The oldest admission leaves the window 60 s after it was made.
      retryAfterMs: WINDOW_MS - 6000,
    });
    expect(refused.report.requests).toEqual({
      limit: 60,
      remaining: 0,
      resetMs: 59_900,
    });
  });

  it('frees a slot exactly when the oldest admission is a minute old', () => {
    const state = emptyState();
    const l = limits({ requestsPerMinute: 2 });
    admit(state, l, req('a', T0));
    admit(state, l, req('b', T0 + 30_000));
    expect(admit(state, l, req('c', T0 + WINDOW_MS - 1)).ok).toBe(false);
    expect(admit(state, l, req('d', T0 + WINDOW_MS)).ok).toBe(true);
    // No fixed-window edge: right after, b and d still fill the window.
    expect(admit(state, l, req('e', T0 + WINDOW_MS + 1)).ok).toBe(false);
  });

  it('reports the remaining requests and when the window empties', () => {
    const state = emptyState();
    const l = limits({ requestsPerMinute: 10 });
    admit(state, l, req('a', T0));
    const r = admit(state, l, req('b', T0 + 1000));
    expect(r.report).toEqual({
      requests: { limit: 10, remaining: 8, resetMs: WINDOW_MS },
      tokens: null,
    });
  });
});

describe('tokens per minute', () => {
  it('reserves tokens, settles them to what was used, and refuses what does not fit', () => {
    const state = emptyState();
    const l = limits({ tokensPerMinute: 1000 });
    expect(admit(state, l, req('a', T0, 600)).ok).toBe(true);
    const refused = admit(state, l, req('b', T0 + 10, 500));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.refusal).toMatchObject({
        limit: 'tokens_per_minute',
        used: 600,
        requested: 500,
      });
      expect(refused.refusal.retryAfterMs).toBe(WINDOW_MS - 10);
    }
    // a used only 100 of its 600.
    finish(state, l, { id: 'a', at: T0, tokens: 100, spendUsd: 0 });
    const admitted = admit(state, l, req('c', T0 + 20, 500));
    expect(admitted.ok).toBe(true);
    expect(admitted.report.tokens).toEqual({ limit: 1000, remaining: 400, resetMs: WINDOW_MS });
  });

  it('refuses a request larger than the limit with no retry time', () => {
    const r = admit(emptyState(), limits({ tokensPerMinute: 100 }), req('a', T0, 101));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.refusal.retryAfterMs).toBeNull();
  });
});

describe('concurrency', () => {
  it('holds a slot from admission to finish', () => {
    const state = emptyState();
    const l = limits({ maxConcurrentRequests: 2 });
    expect(admit(state, l, req('a')).ok).toBe(true);
    expect(admit(state, l, req('b')).ok).toBe(true);
    const refused = admit(state, l, req('c'));
    expect(refused.ok).toBe(false);
    if (!refused.ok)
      expect(refused.refusal).toMatchObject({ limit: 'max_concurrent_requests', used: 2 });
    finish(state, l, { id: 'a', at: T0, tokens: 0, spendUsd: 0 });
    expect(admit(state, l, req('d')).ok).toBe(true);
  });
});

describe('budgets', () => {
  const day = periodOf('day', T0);

  it('needs the period usage loaded, then counts reservations in flight', () => {
    const state = emptyState();
    const l = limits({ tokenBudget: 1000, budgetPeriod: 'day' });
    expect(periodToLoad(state, l, T0)).toEqual(day);
    expect(() => admit(state, l, req('a', T0, 10))).toThrow(/not loaded/);
    loadUsage(state, { period: day.key, requests: 3, tokens: 400, spendUsd: 0 });
    expect(periodToLoad(state, l, T0)).toBeUndefined();
    expect(admit(state, l, req('a', T0, 500)).ok).toBe(true);
    // 400 used + 500 reserved: 101 more do not fit, 100 do.
    const refused = admit(state, l, req('b', T0, 101));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.refusal).toEqual({
        limit: 'token_budget',
        max: 1000,
        used: 900,
        requested: 101,
        retryAfterMs: (day.end ?? 0) - T0,
      });
    }
    expect(admit(state, l, req('c', T0, 100)).ok).toBe(true);
    finish(state, l, { id: 'a', at: T0, tokens: 50, spendUsd: 0 });
    expect(snapshot(state, l, T0)).toMatchObject({
      used: { requests: 4, tokens: 450 },
      inFlight: 1,
      tokenBudget: { limit: 1000, used: 450, reserved: 100, remaining: 450 },
    });
  });

  it('refuses spend over the budget but lets an unpriced model through', () => {
    const state = emptyState();
    const l = limits({ spendBudgetUsd: 1, budgetPeriod: 'total' });
    loadUsage(state, { period: 'total', requests: 0, tokens: 0, spendUsd: 0.9 });
    const refused = admit(state, l, req('a', T0, 10, 0.2));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.refusal).toMatchObject({ limit: 'spend_budget_usd', retryAfterMs: null });
    }
    expect(admit(state, l, req('b', T0, 10, 0)).ok).toBe(true);
  });

  it('counts a finished request in the period it started in', () => {
    const state = emptyState();
    const l = limits({ tokenBudget: 10, budgetPeriod: 'day' });
    loadUsage(state, { period: day.key, requests: 0, tokens: 0, spendUsd: 0 });
    finish(state, l, { id: 'old', at: (day.start ?? 0) - 1, tokens: 5, spendUsd: 0 });
    finish(state, l, { id: 'new', at: T0, tokens: 7, spendUsd: 0 });
    expect(state.usage).toEqual({ period: day.key, requests: 1, tokens: 7, spendUsd: 0 });
    expect(periodToLoad(state, l, (day.end ?? 0) + 1)?.key).toBe('day:2026-11-29');
  });
});

describe('periods', () => {
  it('are calendar periods in UTC', () => {
    const at = Date.UTC(2026, 10, 28, 23, 59, 59); // a Saturday
    expect(periodOf('day', at)).toEqual({
      key: 'day:2026-11-28',
      start: Date.UTC(2026, 10, 28),
      end: Date.UTC(2026, 10, 29),
    });
    expect(periodOf('week', at)).toEqual({
      key: 'week:2026-11-23',
      start: Date.UTC(2026, 10, 23),
      end: Date.UTC(2026, 10, 30),
    });
    expect(periodOf('week', Date.UTC(2026, 10, 23)).start).toBe(Date.UTC(2026, 10, 23));
    expect(periodOf('month', Date.UTC(2026, 11, 31, 12))).toEqual({
      key: 'month:2026-12-01',
      start: Date.UTC(2026, 11, 1),
      end: Date.UTC(2027, 0, 1),
    });
    expect(periodOf('total', at)).toEqual({ key: 'total', start: 0, end: null });
  });
});
