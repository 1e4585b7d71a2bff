// Where the OpenAI API meets the limiter: the start of a request (admit) and its end
// (finish), the two hooks the proxy calls. Nothing else in the request path knows limits.
import type { Context } from 'hono';
import { ApiError } from '../errors.ts';
import type { JsonObject } from '../sse/inspect.ts';
import { usageTotals } from '../store/usage.ts';
import type { AppDeps, AppEnv, AuthenticatedKey, UsageEvent } from '../types.ts';
import { rateLimitHeaders, refusalError } from './answers.ts';
import { capField, reserveTokens } from './estimate.ts';
import type { Limiter } from './limiter.ts';
import { createMemoryLimiter } from './memory.ts';
import { createPriceBook, spendUsd, type PriceBook } from './prices.ts';
import { DEFAULT_BUDGET_PERIOD } from './period.ts';
import { hasLimits } from './wire.ts';

export interface LimitGate {
  // Admits the request against its key's limits or throws the 429 (or a 503 when the
  // limiter cannot decide); sets the x-ratelimit-* headers on the context either way. May
  // add max_tokens to the body (see reserveTokens).
  admit(c: Context<AppEnv>, path: string, model: string, body: JsonObject): Promise<void>;
  // The request is over: prices it and hands it to the limiter, which settles and records.
  finish(key: AuthenticatedKey, event: UsageEvent): Promise<void>;
}

// Told of each refusal and each finished request (the gateway's metrics).
export interface GateObserver {
  refused(limit: string): void;
  finished(event: UsageEvent): void;
}

export function createLimitGate(deps: {
  limiter: Limiter;
  prices: PriceBook;
  defaultMaxTokens: number;
  now: () => number;
  observer?: GateObserver;
}): LimitGate {
  return {
    async admit(c, path, model, body) {
      const key = c.get('apiKey');
      // A key without limits has nothing to reserve; its requests are still finished (and
      // counted for GET /v1/key) through the limiter.
      if (!hasLimits(key.limits)) return;
      const reservation = reserveTokens(path, body, deps.defaultMaxTokens);
      const { limits } = key;
      const tokenLimited =
        limits.tokensPerMinute !== null ||
        limits.tokenBudget !== null ||
        limits.spendBudgetUsd !== null;
      // The engine must not generate past the reservation of a token-limited key.
      if (reservation.capAdded && tokenLimited) body[capField(path)] = deps.defaultMaxTokens;
      let result;
      try {
        const price = await deps.prices.get(model);
        result = await deps.limiter.admit(
          { id: key.id, limits },
          {
            id: c.get('requestId'),
            now: deps.now(),
            tokens: reservation.promptTokens + reservation.completionTokens,
            spendUsd: spendUsd(
              price,
              reservation.promptTokens,
              reservation.completionTokens,
              reservation.images,
            ),
          },
        );
      } catch (err) {
        if (err instanceof ApiError) throw err;
        console.error(
          `request ${c.get('requestId')}: limiter failed:`,
          err instanceof Error ? err.message : err,
        );
        throw new ApiError(
          503,
          'service_unavailable',
          "the gateway cannot check this API key's limits right now; try again shortly",
          'limits_unavailable',
          null,
          { cause: err },
        );
      }
      if (!result.ok) {
        deps.observer?.refused(result.refusal.limit);
        throw refusalError(
          result.refusal,
          result.report,
          limits.budgetPeriod ?? DEFAULT_BUDGET_PERIOD,
        );
      }
      for (const [name, value] of Object.entries(rateLimitHeaders(result.report))) {
        c.header(name, value);
      }
    },

    async finish(key, event) {
      deps.observer?.finished(event);
      let priced = event;
      const images = event.images ?? 0;
      if (event.model !== null && (event.totalTokens > 0 || images > 0)) {
        try {
          const price = await deps.prices.get(event.model);
          priced = {
            ...event,
            spendUsd: spendUsd(price, event.promptTokens, event.completionTokens, images),
          };
        } catch (err) {
          // The row is still written (spend 0) rather than lost; the log says why.
          console.error(
            `request ${event.id}: price lookup failed:`,
            err instanceof Error ? err.message : err,
          );
        }
      }
      await deps.limiter.finish({ id: key.id, limits: key.limits }, priced);
    },
  };
}

// The gate of an app whose host gave no limiter: counters in this process, prices from the
// app's database.
export function createDefaultLimitGate(deps: AppDeps): LimitGate {
  const now = deps.now ?? Date.now;
  return createLimitGate({
    limiter: createMemoryLimiter({
      usage: deps.usage,
      loadUsage: (keyId, start, end) => usageTotals(deps.db, keyId, start, end),
    }),
    prices: createPriceBook(deps.db, { ttlMs: deps.config.cacheTtlMs, now }),
    defaultMaxTokens: deps.config.defaultMaxTokens,
    now,
  });
}
