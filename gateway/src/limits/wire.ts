// Limits and prices as the admin API and GET /v1/key write them (snake_case JSON), their
// validation, and the views of a key's standing.
import { z } from 'zod';
import { toUnixSeconds } from '../lib/time.ts';
import { formatDuration } from './answers.ts';
import { NO_LIMITS, type KeyLimits, type Snapshot } from './arithmetic.ts';
import { BUDGET_PERIODS } from './period.ts';

// Beyond these a limit is a typo, not a policy. The per-minute request log holds one entry
// per admitted request, so requests_per_minute is bounded tighter than the token figures.
export const MAX_REQUESTS_PER_MINUTE = 100_000;
export const MAX_TOKENS_PER_MINUTE = 1_000_000_000;
export const MAX_CONCURRENT_REQUESTS = 100_000;
export const MAX_TOKEN_BUDGET = 1_000_000_000_000;
export const MAX_SPEND_BUDGET_USD = 1_000_000_000;
export const MAX_PRICE_USD_PER_MTOK = 1_000_000;

const count = (max: number) =>
  z
    .number()
    .int('must be a whole number')
    .positive('must be at least 1 (null or absent means unlimited)')
    .max(max, `must be at most ${max}`)
    .nullable()
    .optional();

export const LimitsSchema = z
  .object({
    requests_per_minute: count(MAX_REQUESTS_PER_MINUTE),
    tokens_per_minute: count(MAX_TOKENS_PER_MINUTE),
    max_concurrent_requests: count(MAX_CONCURRENT_REQUESTS),
    token_budget: count(MAX_TOKEN_BUDGET),
    spend_budget_usd: z
      .number()
      .positive('must be more than 0 (null or absent means unlimited)')
      .max(MAX_SPEND_BUDGET_USD, `must be at most ${MAX_SPEND_BUDGET_USD}`)
      .nullable()
      .optional(),
    budget_period: z.enum(BUDGET_PERIODS).nullable().optional(),
  })
  .strict();

export type LimitsInput = z.infer<typeof LimitsSchema>;

// A sanity bound that catches a price typed in the wrong unit.
export const MAX_PRICE_USD_PER_IMAGE = 1000;

export const PriceSchema = z
  .object({
    input_usd_per_mtok: z.number().min(0, 'must not be negative').max(MAX_PRICE_USD_PER_MTOK),
    output_usd_per_mtok: z.number().min(0, 'must not be negative').max(MAX_PRICE_USD_PER_MTOK),
    // US dollars per generated image; null or absent: none.
    usd_per_image: z.number().min(0, 'must not be negative').max(MAX_PRICE_USD_PER_IMAGE).nullish(),
  })
  .strict();

// The columns of api_keys that hold limits.
export interface LimitColumns {
  rpmLimit: number | null;
  tpmLimit: number | null;
  maxConcurrent: number | null;
  tokenBudget: number | null;
  spendBudgetUsd: number | null;
  budgetPeriod: KeyLimits['budgetPeriod'];
}

export const limitsOfRow = (row: LimitColumns): KeyLimits => ({
  requestsPerMinute: row.rpmLimit,
  tokensPerMinute: row.tpmLimit,
  maxConcurrentRequests: row.maxConcurrent,
  tokenBudget: row.tokenBudget,
  spendBudgetUsd: row.spendBudgetUsd,
  budgetPeriod: row.budgetPeriod,
});

// The columns to write for a limits object in a create or patch: fields left out keep
// their value (on create: unlimited), null clears one; `limits: null` clears all.
export function limitColumns(input: LimitsInput | null): Partial<LimitColumns> {
  if (input === null) {
    return limitColumns({
      requests_per_minute: null,
      tokens_per_minute: null,
      max_concurrent_requests: null,
      token_budget: null,
      spend_budget_usd: null,
      budget_period: null,
    });
  }
  const out: Partial<LimitColumns> = {};
  if (input.requests_per_minute !== undefined) out.rpmLimit = input.requests_per_minute;
  if (input.tokens_per_minute !== undefined) out.tpmLimit = input.tokens_per_minute;
  if (input.max_concurrent_requests !== undefined) {
    out.maxConcurrent = input.max_concurrent_requests;
  }
  if (input.token_budget !== undefined) out.tokenBudget = input.token_budget;
  if (input.spend_budget_usd !== undefined) out.spendBudgetUsd = input.spend_budget_usd;
  if (input.budget_period !== undefined) out.budgetPeriod = input.budget_period;
  return out;
}

export const limitsView = (l: KeyLimits) => ({
  requests_per_minute: l.requestsPerMinute,
  tokens_per_minute: l.tokensPerMinute,
  max_concurrent_requests: l.maxConcurrentRequests,
  token_budget: l.tokenBudget,
  spend_budget_usd: l.spendBudgetUsd,
  budget_period: l.budgetPeriod,
});

export const hasLimits = (l: KeyLimits): boolean =>
  (Object.keys(NO_LIMITS) as (keyof KeyLimits)[]).some(
    (k) => k !== 'budgetPeriod' && l[k] !== null,
  );

// Spend in the view is rounded to the micro-dollar; the counters keep full precision.
const money = (n: number) => Math.round(n * 1e6) / 1e6;

// A key's standing in its budget period and minute window (GET /v1/key, and the admin
// API's key view): what was used, what remains, when each limit resets.
export function standingView(s: Snapshot, now: number) {
  const resetAt = s.period.end === null ? null : toUnixSeconds(s.period.end);
  const rate = (f: Snapshot['rate']['requests']) =>
    f && { limit: f.limit, remaining: f.remaining, reset: formatDuration(f.resetMs) };
  return {
    period: {
      name: s.period.name,
      start: toUnixSeconds(s.period.start),
      end: resetAt,
    },
    used: { requests: s.used.requests, tokens: s.used.tokens, spend_usd: money(s.used.spendUsd) },
    in_flight: s.inFlight,
    token_budget: s.tokenBudget && {
      ...s.tokenBudget,
      resets_at: resetAt,
    },
    spend_budget_usd: s.spendBudgetUsd && {
      limit: s.spendBudgetUsd.limit,
      used: money(s.spendBudgetUsd.used),
      reserved: money(s.spendBudgetUsd.reserved),
      remaining: money(s.spendBudgetUsd.remaining),
      resets_at: resetAt,
    },
    requests_per_minute: rate(s.rate.requests),
    tokens_per_minute: rate(s.rate.tokens),
    as_of: toUnixSeconds(now),
  };
}
