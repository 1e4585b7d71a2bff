// The limit arithmetic of one API key, shared by every limiter (in-process, Durable
// Object): no I/O and no clock, the caller passes `now`. The state is plain JSON so a
// Durable Object can store it as is.
//
// Per-minute limits use a sliding log: every admission of the last 60 s is kept with its
// time and its tokens, so "N requests in any 60 s" is exact. A fixed window lets up to
// twice the limit through around a window edge, and a sliding-window estimate (two
// weighted buckets) is approximate; the log costs one small entry per admitted request
// of the last minute, which the limit itself bounds.
//
// Tokens are reserved at admission (the estimated prompt plus the completion cap) and
// settled to what was used when the request ends, in the window and in the budget period.
// Budgets count settled usage plus every reservation in flight, so concurrent requests
// can never overspend one.
import { DEFAULT_BUDGET_PERIOD, periodOf, type BudgetPeriod, type PeriodBounds } from './period.ts';

export const WINDOW_MS = 60_000;
// A refused concurrent request is told to retry after this long: a slot frees when some
// request ends, which the limiter cannot foresee.
export const CONCURRENCY_RETRY_MS = 1000;
// A reservation older than this is taken for one whose end was never reported (a gateway
// process or isolate that died mid-request) and its slot is freed. Longer than any answer
// the proxy lets run: streams end after 5 minutes of silence, whole answers after 5.
export const MAX_IN_FLIGHT_MS = 30 * 60_000;

// Absent or null: unlimited.
export interface KeyLimits {
  requestsPerMinute: number | null;
  tokensPerMinute: number | null;
  maxConcurrentRequests: number | null;
  tokenBudget: number | null;
  spendBudgetUsd: number | null;
  budgetPeriod: BudgetPeriod | null;
}

export const NO_LIMITS: KeyLimits = {
  requestsPerMinute: null,
  tokensPerMinute: null,
  maxConcurrentRequests: null,
  tokenBudget: null,
  spendBudgetUsd: null,
  budgetPeriod: null,
};

export interface WindowEntry {
  id: string;
  at: number;
  tokens: number;
}

export interface Reservation {
  at: number;
  tokens: number;
  spendUsd: number;
  // The budget period the reservation was made in.
  period: string;
}

export interface PeriodUsage {
  // periodOf(...).key
  period: string;
  requests: number;
  tokens: number;
  spendUsd: number;
}

export interface KeyState {
  // Admissions of the last WINDOW_MS, oldest first; kept only while the key has a
  // per-minute limit.
  window: WindowEntry[];
  // The sum of the window's tokens, kept as entries come and go (no walk per admission).
  windowTokens: number;
  // Admitted requests that have not ended, by request id.
  inFlight: Record<string, Reservation>;
  // Usage recorded in the current budget period; null until loaded from the usage rows.
  usage: PeriodUsage | null;
}

export const emptyState = (): KeyState => ({
  window: [],
  windowTokens: 0,
  inFlight: {},
  usage: null,
});

export interface AdmitInput {
  id: string;
  now: number;
  tokens: number;
  spendUsd: number;
}

export type LimitName =
  | 'requests_per_minute'
  | 'tokens_per_minute'
  | 'max_concurrent_requests'
  | 'token_budget'
  | 'spend_budget_usd';

export interface Refusal {
  limit: LimitName;
  max: number;
  used: number;
  requested: number;
  // null: waiting does not help (the request alone is larger than the limit, or a
  // `total` budget is spent).
  retryAfterMs: number | null;
}

export interface RateFigures {
  limit: number;
  remaining: number;
  // Until the window holds nothing of what it holds now.
  resetMs: number;
}

// What OpenAI's x-ratelimit-* headers report, for the per-minute limits the key has.
export interface RateReport {
  requests: RateFigures | null;
  tokens: RateFigures | null;
}

export type AdmitResult =
  { ok: true; report: RateReport } | { ok: false; refusal: Refusal; report: RateReport };

export const budgetPeriodOf = (limits: KeyLimits, now: number): PeriodBounds =>
  periodOf(limits.budgetPeriod ?? DEFAULT_BUDGET_PERIOD, now);

// The period whose usage must be loaded (from the usage rows) before admit() or
// snapshot() can run; undefined when the state already holds it.
export function periodToLoad(state: KeyState, limits: KeyLimits, now: number) {
  const period = budgetPeriodOf(limits, now);
  return state.usage?.period === period.key ? undefined : period;
}

export function loadUsage(state: KeyState, usage: PeriodUsage): void {
  state.usage = { ...usage };
}

function prune(state: KeyState, limits: KeyLimits, now: number): void {
  for (const [id, r] of Object.entries(state.inFlight)) {
    if (r.at <= now - MAX_IN_FLIGHT_MS) delete state.inFlight[id];
  }
  if (limits.requestsPerMinute === null && limits.tokensPerMinute === null) {
    state.window.length = 0;
    state.windowTokens = 0;
    return;
  }
  let drop = 0;
  for (const e of state.window) {
    if (e.at > now - WINDOW_MS) break;
    state.windowTokens -= e.tokens;
    drop++;
  }
  if (drop > 0) state.window.splice(0, drop);
}

const windowTokens = (state: KeyState) => state.windowTokens;

export function report(state: KeyState, limits: KeyLimits, now: number): RateReport {
  prune(state, limits, now);
  const last = state.window.at(-1);
  let requests: RateFigures | null = null;
  if (limits.requestsPerMinute !== null) {
    requests = {
      limit: limits.requestsPerMinute,
      remaining: Math.max(0, limits.requestsPerMinute - state.window.length),
      resetMs: last ? last.at + WINDOW_MS - now : 0,
    };
  }
  let tokens: RateFigures | null = null;
  if (limits.tokensPerMinute !== null) {
    const lastWithTokens = state.window.findLast((e) => e.tokens > 0);
    tokens = {
      limit: limits.tokensPerMinute,
      remaining: Math.max(0, limits.tokensPerMinute - windowTokens(state)),
      resetMs: lastWithTokens ? lastWithTokens.at + WINDOW_MS - now : 0,
    };
  }
  return { requests, tokens };
}

function reserved(state: KeyState, period: string) {
  let tokens = 0;
  let spendUsd = 0;
  for (const r of Object.values(state.inFlight)) {
    if (r.period !== period) continue;
    tokens += r.tokens;
    spendUsd += r.spendUsd;
  }
  return { tokens, spendUsd };
}

function check(state: KeyState, limits: KeyLimits, req: AdmitInput): Refusal | undefined {
  const { now } = req;
  const rpm = limits.requestsPerMinute;
  if (rpm !== null && state.window.length + 1 > rpm) {
    // The request fits once enough of the oldest admissions have left the window.
    const freeing = state.window[state.window.length - rpm];
    return {
      limit: 'requests_per_minute',
      max: rpm,
      used: state.window.length,
      requested: 1,
      retryAfterMs: freeing ? freeing.at + WINDOW_MS - now : CONCURRENCY_RETRY_MS,
    };
  }
  const tpm = limits.tokensPerMinute;
  if (tpm !== null) {
    const used = windowTokens(state);
    if (used + req.tokens > tpm) {
      let retryAfterMs: number | null = null;
      if (req.tokens <= tpm) {
        let freed = 0;
        for (const e of state.window) {
          freed += e.tokens;
          if (used - freed + req.tokens <= tpm) {
            retryAfterMs = e.at + WINDOW_MS - now;
            break;
          }
        }
      }
      return {
        limit: 'tokens_per_minute',
        max: tpm,
        used,
        requested: req.tokens,
        retryAfterMs,
      };
    }
  }
  const maxConcurrent = limits.maxConcurrentRequests;
  const running = Object.keys(state.inFlight).length;
  if (maxConcurrent !== null && running + 1 > maxConcurrent) {
    return {
      limit: 'max_concurrent_requests',
      max: maxConcurrent,
      used: running,
      requested: 1,
      retryAfterMs: CONCURRENCY_RETRY_MS,
    };
  }
  if (limits.tokenBudget === null && limits.spendBudgetUsd === null) return undefined;
  const period = budgetPeriodOf(limits, now);
  const usage = state.usage;
  if (usage?.period !== period.key) throw new Error('limits: budget usage is not loaded');
  const pending = reserved(state, period.key);
  const retryAfterMs = period.end === null ? null : period.end - now;
  if (limits.tokenBudget !== null) {
    const used = usage.tokens + pending.tokens;
    if (used + req.tokens > limits.tokenBudget) {
      return {
        limit: 'token_budget',
        max: limits.tokenBudget,
        used,
        requested: req.tokens,
        retryAfterMs,
      };
    }
  }
  // An unpriced model costs nothing, so it stays usable when the spend budget is spent.
  if (limits.spendBudgetUsd !== null && req.spendUsd > 0) {
    const used = usage.spendUsd + pending.spendUsd;
    if (used + req.spendUsd > limits.spendBudgetUsd) {
      return {
        limit: 'spend_budget_usd',
        max: limits.spendBudgetUsd,
        used,
        requested: req.spendUsd,
        retryAfterMs,
      };
    }
  }
  return undefined;
}

// Checks the request against every limit of the key and, when all allow it, reserves its
// request, its slot and its tokens, all in one step: nothing else runs between the check
// and the reservation in any limiter (one JS turn, one Durable Object call).
export function admit(state: KeyState, limits: KeyLimits, req: AdmitInput): AdmitResult {
  prune(state, limits, req.now);
  const refusal = check(state, limits, req);
  if (refusal) return { ok: false, refusal, report: report(state, limits, req.now) };
  if (limits.requestsPerMinute !== null || limits.tokensPerMinute !== null) {
    state.window.push({ id: req.id, at: req.now, tokens: req.tokens });
    state.windowTokens += req.tokens;
  }
  state.inFlight[req.id] = {
    at: req.now,
    tokens: req.tokens,
    spendUsd: req.spendUsd,
    period: budgetPeriodOf(limits, req.now).key,
  };
  return { ok: true, report: report(state, limits, req.now) };
}

export interface Finished {
  id: string;
  // When the request started (its usage row's created_at): it decides the period.
  at: number;
  tokens: number;
  spendUsd: number;
}

// A request of the key ended (admitted or refused): its slot is released, its reservation
// in the window becomes what it used, and its usage counts in its budget period.
export function finish(state: KeyState, limits: KeyLimits, done: Finished): void {
  delete state.inFlight[done.id];
  for (let i = state.window.length - 1; i >= 0; i--) {
    const entry = state.window[i];
    if (entry?.id === done.id) {
      state.windowTokens += done.tokens - entry.tokens;
      entry.tokens = done.tokens;
      break;
    }
  }
  const usage = state.usage;
  // Usage of another period than the loaded one is in the rows; the counter skips it. (The
  // period is worked out only where a period is loaded: most keys never load one.)
  if (usage && usage.period === budgetPeriodOf(limits, done.at).key) {
    usage.requests += 1;
    usage.tokens += done.tokens;
    usage.spendUsd += done.spendUsd;
  }
}

export interface BudgetFigures {
  limit: number;
  used: number;
  // Reserved by requests still running.
  reserved: number;
  remaining: number;
}

// What GET /v1/key shows about the key's limits.
export interface Snapshot {
  period: { name: BudgetPeriod; start: number; end: number | null };
  used: { requests: number; tokens: number; spendUsd: number };
  inFlight: number;
  tokenBudget: BudgetFigures | null;
  spendBudgetUsd: BudgetFigures | null;
  rate: RateReport;
}

export function snapshot(state: KeyState, limits: KeyLimits, now: number): Snapshot {
  const period = budgetPeriodOf(limits, now);
  const usage = state.usage;
  if (usage?.period !== period.key) throw new Error('limits: budget usage is not loaded');
  const pending = reserved(state, period.key);
  const figures = (limit: number | null, used: number, held: number): BudgetFigures | null =>
    limit === null
      ? null
      : { limit, used, reserved: held, remaining: Math.max(0, limit - used - held) };
  return {
    period: {
      name: limits.budgetPeriod ?? DEFAULT_BUDGET_PERIOD,
      start: period.start,
      end: period.end,
    },
    used: { requests: usage.requests, tokens: usage.tokens, spendUsd: usage.spendUsd },
    inFlight: Object.keys(state.inFlight).length,
    tokenBudget: figures(limits.tokenBudget, usage.tokens, pending.tokens),
    spendBudgetUsd: figures(limits.spendBudgetUsd, usage.spendUsd, pending.spendUsd),
    rate: report(state, limits, now),
  };
}

// The key's state holds nothing worth keeping (no window, nothing in flight): a limiter
// may forget it, except for the loaded period usage.
export const idle = (state: KeyState) =>
  state.window.length === 0 && Object.keys(state.inFlight).length === 0;
