// Concurrent cache misses in one process share one load (so a burst of requests costs one
// query), but a request never waits on another request's load for long.
//
// Why the bound: on the Node host any request may settle any promise, but on Workers a
// load's I/O belongs to the request that started it. When that request is canceled (its
// client went away) while the load is pending, workerd cancels the I/O with it, so the
// shared promise never settles, and it cancels continuations of a promise settled for a
// request that has already ended. A request that joined such a load would hang until the
// runtime gives up on it. So a joiner waits at most waitMs; then it drops the stalled load
// and starts one of its own (which later requests join). Only settled values (the caches'
// entries) are shared without a bound: they are plain data, not I/O.

// Long enough for any healthy query, short enough that a request whose load died with
// another request still gets its answer promptly.
export const SHARED_LOAD_WAIT_MS = 1000;

const GAVE_UP = Symbol('gave up');

// Resolves once `p` has settled (either way) or ms have passed, whichever comes first.
export async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  await waitAtMost(
    p.catch(() => undefined),
    ms,
  );
}

// `shared`'s outcome, or GAVE_UP when it has not settled within ms.
function waitAtMost<T>(shared: Promise<T>, ms: number): Promise<T | typeof GAVE_UP> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gaveUp = new Promise<typeof GAVE_UP>((resolve) => {
    timer = setTimeout(() => resolve(GAVE_UP), ms);
  });
  return Promise.race([shared, gaveUp]).finally(() => clearTimeout(timer));
}

export interface SharedLoads<K, V> {
  // The running load for `key` if there is one (waited for at most waitMs), else `load()`.
  run(key: K, load: () => Promise<V>): Promise<V>;
  // Forgets running loads: the next run() starts a fresh one.
  clear(): void;
}

export function createSharedLoads<K, V>(opts: { waitMs?: number } = {}): SharedLoads<K, V> {
  const waitMs = opts.waitMs ?? SHARED_LOAD_WAIT_MS;
  const running = new Map<K, Promise<V>>();

  function start(key: K, load: () => Promise<V>): Promise<V> {
    const loading: Promise<V> = load().finally(() => {
      if (running.get(key) === loading) running.delete(key);
    });
    running.set(key, loading);
    return loading;
  }

  async function run(key: K, load: () => Promise<V>): Promise<V> {
    const shared = running.get(key);
    if (!shared) return start(key, load);
    const outcome = await waitAtMost(shared, waitMs);
    if (outcome !== GAVE_UP) return outcome;
    // Stalled: drop it, unless another joiner has already replaced it (then join that one).
    if (running.get(key) === shared) running.delete(key);
    return run(key, load);
  }

  return {
    run,
    clear() {
      running.clear();
    },
  };
}

// While a reload is slow or failing, the last loaded value is served: `load`'s value when
// it arrives within afterMs, else `stale` (the load goes on and updates its cache when it
// ends). A failed load also gives `stale`, and is logged.
export async function orStaleAfter<T>(
  load: Promise<T>,
  stale: T,
  afterMs: number,
  what: string,
): Promise<T> {
  const guarded = load.catch((err: unknown) => {
    console.error(
      `${what} failed; serving the last one:`,
      err instanceof Error ? err.message : err,
    );
    return stale;
  });
  const outcome = await waitAtMost(guarded, afterMs);
  return outcome === GAVE_UP ? stale : outcome;
}
