// The Node host's shared limiter (FLEETGATE_REDIS_URL): every gateway replica admits
// against the same counters in Redis, one atomic Lua script per admission and one per
// settlement (redis-scripts.ts). A key's budget period is loaded into Redis once, from the
// usage rows, by whichever replica needs it first.
//
// When Redis cannot be reached, FLEETGATE_REDIS_FAILURE decides (logged and counted
// either way): `open-rate-limits` (default) lets the request through unless its key has a
// budget, which then gets 503 (a budget is money; a rate limit is protection); `open` lets
// everything through; `closed` answers 503 to every limited key.
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.ts';
import type { UsageSink } from '../types.ts';
import {
  budgetPeriodOf,
  MAX_IN_FLIGHT_MS,
  type AdmitResult,
  type KeyLimits,
  type LimitName,
  type RateFigures,
  type RateReport,
  type Snapshot,
} from './arithmetic.ts';
import type { Limiter, LimitedKey, LoadUsage } from './limiter.ts';
import { DEFAULT_BUDGET_PERIOD } from './period.ts';
import { ADMIT_SCRIPT, FINISH_SCRIPT, INSPECT_SCRIPT, LOAD_SCRIPT } from './redis-scripts.ts';

export const REDIS_FAILURE_MODES = ['open-rate-limits', 'open', 'closed'] as const;
export type RedisFailureMode = (typeof REDIS_FAILURE_MODES)[number];

// What the limiter needs of a Redis client (node-redis's sendCommand).
export interface RedisCommands {
  sendCommand(args: string[]): Promise<unknown>;
}

export interface RedisLimiter extends Limiter {
  // Requests let through, and refused with 503, because Redis could not be reached.
  readonly failures: { failedOpen: number; failedClosed: number };
}

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const scripts = {
  admit: new Script(ADMIT_SCRIPT),
  finish: new Script(FINISH_SCRIPT),
  load: new Script(LOAD_SCRIPT),
  inspect: new Script(INSPECT_SCRIPT),
};

const keysOf = (keyId: string, period: string) => {
  const p = `fleetgate:limits:{${keyId}}`;
  return [`${p}:win`, `${p}:wtok`, `${p}:wsum`, `${p}:fl`, `${p}:rsv`, `${p}:use:${period}`];
};

const arg = (n: number | null) => (n === null ? '-1' : String(n));

function strings(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new Error('unexpected reply from the Redis limiter script');
  return reply.map((v) => String(v));
}

function figures(f: string[], at: number): RateFigures | null {
  const [limit, remaining, reset] = [f[at], f[at + 1], f[at + 2]];
  if (!limit || remaining === undefined || reset === undefined) return null;
  return { limit: Number(limit), remaining: Number(remaining), resetMs: Number(reset) };
}

const reportOf = (f: string[], at: number): RateReport => ({
  requests: figures(f, at),
  tokens: figures(f, at + 3),
});

export function createRedisLimiter(opts: {
  redis: RedisCommands;
  usage: UsageSink;
  loadUsage: LoadUsage;
  failure: RedisFailureMode;
}): RedisLimiter {
  const failures = { failedOpen: 0, failedClosed: 0 };

  async function run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await opts.redis.sendCommand([
        'EVALSHA',
        script.sha,
        String(keys.length),
        ...keys,
        ...args,
      ]);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return opts.redis.sendCommand(['EVAL', script.source, String(keys.length), ...keys, ...args]);
    }
  }

  async function load(key: LimitedKey, now: number): Promise<void> {
    const period = budgetPeriodOf(key.limits, now);
    // This replica's own buffered rows first, so the sums include them.
    await opts.usage.flush();
    const totals = await opts.loadUsage(key.id, period.start, period.end);
    await run(scripts.load, keysOf(key.id, period.key), [
      String(totals.requests),
      String(totals.tokens),
      String(totals.spendUsd),
      // Kept a day past the period's end, then Redis drops it.
      period.end === null ? '-1' : String(period.end + 86_400_000),
    ]);
  }

  function unreachable(key: LimitedKey, err: unknown): AdmitResult {
    const budgeted = key.limits.tokenBudget !== null || key.limits.spendBudgetUsd !== null;
    const open = opts.failure === 'open' || (opts.failure === 'open-rate-limits' && !budgeted);
    const reason = err instanceof Error ? err.message : String(err);
    if (open) {
      failures.failedOpen += 1;
      console.error(
        `limits: Redis unreachable, key ${key.id} let through without limits (${failures.failedOpen} so far): ${reason}`,
      );
      return { ok: true, report: { requests: null, tokens: null } };
    }
    failures.failedClosed += 1;
    console.error(
      `limits: Redis unreachable, key ${key.id} refused (${failures.failedClosed} so far): ${reason}`,
    );
    throw new ApiError(
      503,
      'service_unavailable',
      "the gateway cannot reach the store of this API key's limits and budgets; try again shortly",
      'limits_unavailable',
      null,
      { cause: err },
    );
  }

  async function admitOnce(
    key: LimitedKey,
    req: { id: string; now: number; tokens: number; spendUsd: number },
  ): Promise<string[]> {
    const l = key.limits;
    const period = budgetPeriodOf(l, req.now);
    return strings(
      await run(scripts.admit, keysOf(key.id, period.key), [
        String(req.now),
        req.id,
        String(req.tokens),
        String(req.spendUsd),
        arg(l.requestsPerMinute),
        arg(l.tokensPerMinute),
        arg(l.maxConcurrentRequests),
        arg(l.tokenBudget),
        arg(l.spendBudgetUsd),
        period.key,
        period.end === null ? '-1' : String(period.end),
        String(MAX_IN_FLIGHT_MS),
      ]),
    );
  }

  async function inspectOnce(key: LimitedKey, now: number): Promise<string[]> {
    const l = key.limits;
    const period = budgetPeriodOf(l, now);
    return strings(
      await run(scripts.inspect, keysOf(key.id, period.key), [
        String(now),
        arg(l.requestsPerMinute),
        arg(l.tokensPerMinute),
        period.key,
        String(MAX_IN_FLIGHT_MS),
      ]),
    );
  }

  return {
    failures,
    async admit(key, req) {
      let reply: string[];
      try {
        reply = await admitOnce(key, req);
        if (reply[0] === 'load') {
          await load(key, req.now);
          reply = await admitOnce(key, req);
        }
      } catch (err) {
        return unreachable(key, err);
      }
      const report = reportOf(reply, 6);
      if (reply[0] === '1') return { ok: true, report };
      const retry = Number(reply[5]);
      return {
        ok: false,
        refusal: {
          limit: reply[1] as LimitName,
          max: Number(reply[2]),
          used: Number(reply[3]),
          requested: Number(reply[4]),
          retryAfterMs: retry < 0 ? null : retry,
        },
        report,
      };
    },

    async finish(key, event) {
      const period = budgetPeriodOf(key.limits, event.createdAt);
      try {
        await run(scripts.finish, keysOf(key.id, period.key), [
          event.id,
          String(event.totalTokens),
          String(event.spendUsd ?? 0),
        ]);
      } catch (err) {
        console.error(
          `limits: Redis unreachable, request ${event.id} not settled there:`,
          err instanceof Error ? err.message : err,
        );
      }
      await opts.usage.record(event);
    },

    async inspect(key, now) {
      let reply = await inspectOnce(key, now);
      if (reply[0] === 'load') {
        await load(key, now);
        reply = await inspectOnce(key, now);
      }
      const n = (i: number) => Number(reply[i] ?? 0);
      const period = budgetPeriodOf(key.limits, now);
      const l: KeyLimits = key.limits;
      const used = { requests: n(0), tokens: n(1), spendUsd: n(2) };
      const budget = (limit: number | null, u: number, held: number) =>
        limit === null
          ? null
          : { limit, used: u, reserved: held, remaining: Math.max(0, limit - u - held) };
      const snapshot: Snapshot = {
        period: {
          name: l.budgetPeriod ?? DEFAULT_BUDGET_PERIOD,
          start: period.start,
          end: period.end,
        },
        used,
        inFlight: n(3),
        tokenBudget: budget(l.tokenBudget, used.tokens, n(4)),
        spendBudgetUsd: budget(l.spendBudgetUsd, used.spendUsd, n(5)),
        rate: reportOf(reply, 6),
      };
      return snapshot;
    },
  };
}
