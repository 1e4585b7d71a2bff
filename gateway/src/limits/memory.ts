// The Node host's default limiter: every key's state in this process's memory. One
// admission is one synchronous call of the arithmetic, so nothing interleaves between a
// check and its reservation. Exact for one gateway process; several replicas share limits
// through Redis instead (redis.ts).
//
// A budget period's usage starts from the key's usage rows (one query per key and period
// while the process lives) and then counts what finishes here. Rows still buffered by the
// usage sink are written first, so the query sees them; a request that finishes while the
// query runs is added once it returns.
import type { UsageSink } from '../types.ts';
import {
  admit,
  emptyState,
  finish,
  loadUsage,
  periodToLoad,
  snapshot,
  type KeyLimits,
  type KeyState,
  type Finished,
} from './arithmetic.ts';
import type { Limiter, LimitedKey, LoadUsage } from './limiter.ts';

interface Entry {
  state: KeyState;
  // The period load in progress, with the requests that finished meanwhile.
  loading?: { period: string; done: Promise<void>; finished: Finished[] };
}

export function createMemoryLimiter(opts: { usage: UsageSink; loadUsage: LoadUsage }): Limiter {
  const keys = new Map<string, Entry>();

  const entryOf = (id: string): Entry => {
    let entry = keys.get(id);
    if (!entry) {
      entry = { state: emptyState() };
      keys.set(id, entry);
    }
    return entry;
  };

  async function ensurePeriod(key: LimitedKey, now: number): Promise<Entry> {
    const entry = entryOf(key.id);
    for (;;) {
      const period = periodToLoad(entry.state, key.limits, now);
      if (!period) return entry;
      if (entry.loading?.period !== period.key) {
        const loading = { period: period.key, finished: [] as Finished[], done: Promise.resolve() };
        loading.done = (async () => {
          try {
            await opts.usage.flush();
            const totals = await opts.loadUsage(key.id, period.start, period.end);
            loadUsage(entry.state, { period: period.key, ...totals });
            for (const done of loading.finished) finish(entry.state, key.limits, done);
          } finally {
            if (entry.loading === loading) entry.loading = undefined;
          }
        })();
        entry.loading = loading;
      }
      await entry.loading.done;
    }
  }

  const needsUsage = (limits: KeyLimits) =>
    limits.tokenBudget !== null || limits.spendBudgetUsd !== null;

  return {
    async admit(key, req) {
      const entry = needsUsage(key.limits) ? await ensurePeriod(key, req.now) : entryOf(key.id);
      return admit(entry.state, key.limits, req);
    },
    async finish(key, event) {
      const entry = entryOf(key.id);
      const done: Finished = {
        id: event.id,
        at: event.createdAt,
        tokens: event.totalTokens,
        spendUsd: event.spendUsd ?? 0,
      };
      finish(entry.state, key.limits, done);
      entry.loading?.finished.push(done);
      await opts.usage.record(event);
    },
    async inspect(key, now) {
      const entry = await ensurePeriod(key, now);
      return snapshot(entry.state, key.limits, now);
    },
  };
}
