// A small in-memory cache of API-key lookups by secret hash, so a busy key costs one
// database read per TTL instead of one per request. Unknown hashes are cached too, for a
// shorter time, so a client stuck on a wrong key does not hammer the database; they live
// in a small map of their own, so a flood of random keys evicts other unknown keys only,
// never the valid ones. Both maps are bounded (oldest entries go first) and concurrent
// misses for one hash share a lookup (with a bounded wait: lib/shared-load.ts says why).
// Its TTL bounds how long a revoked or disabled key still works on a host that did not
// make the change; the host that did clears it at once. While the database is slow or
// down, an expired entry is still served for up to MAX_STALE_KEY_MS (so a database outage
// does not lock every client out at once), which extends that bound during the outage.
import { createSharedLoads, orStaleAfter, SHARED_LOAD_WAIT_MS } from '../lib/shared-load.ts';
import type { StoredKey } from '../store/api-keys.ts';

export const MAX_CACHED_KEYS = 10_000;
export const MAX_CACHED_UNKNOWN_KEYS = 1000;
// Unknown keys are remembered at most this long.
const MAX_NEGATIVE_TTL_MS = 1000;
// An expired entry is served instead of a slow or failed lookup for at most this long
// after it expired.
export const MAX_STALE_KEY_MS = 60_000;

interface Entry {
  key: StoredKey | undefined;
  expires: number;
}

export interface KeyCache {
  get(keyHash: string): Promise<StoredKey | undefined>;
  clear(): void;
  readonly size: number;
}

export function createKeyCache(opts: {
  ttlMs: number;
  load: (keyHash: string) => Promise<StoredKey | undefined>;
  now: () => number;
  maxEntries?: number;
  // Unknown hashes remembered at once. Default MAX_CACHED_UNKNOWN_KEYS.
  maxUnknown?: number;
  // How long a miss waits for another request's lookup of the same hash before starting
  // its own, and how long a reload may take before the expired entry is served instead.
  // Default SHARED_LOAD_WAIT_MS.
  sharedLoadWaitMs?: number;
}): KeyCache {
  const staleAfterMs = opts.sharedLoadWaitMs ?? SHARED_LOAD_WAIT_MS;
  const maxEntries = opts.maxEntries ?? MAX_CACHED_KEYS;
  const maxUnknown = opts.maxUnknown ?? MAX_CACHED_UNKNOWN_KEYS;
  if (opts.ttlMs < 0 || maxEntries < 1 || maxUnknown < 1) {
    throw new Error('key cache: bad options');
  }
  const negativeTtlMs = Math.min(opts.ttlMs, MAX_NEGATIVE_TTL_MS);
  const entries = new Map<string, Entry>();
  const unknown = new Map<string, Entry>();
  const loading = createSharedLoads<string, StoredKey | undefined>({
    waitMs: opts.sharedLoadWaitMs,
  });
  // Bumped by clear(), so a lookup that started before a change is not cached after it.
  let generation = 0;

  function remember(keyHash: string, key: StoredKey | undefined) {
    const ttl = key ? opts.ttlMs : negativeTtlMs;
    if (ttl <= 0) return;
    const [map, max] = key ? [entries, maxEntries] : [unknown, maxUnknown];
    entries.delete(keyHash);
    unknown.delete(keyHash);
    map.set(keyHash, { key, expires: opts.now() + ttl });
    while (map.size > max) {
      const oldest = map.keys().next();
      if (oldest.done) break;
      map.delete(oldest.value);
    }
  }

  return {
    get(keyHash) {
      const now = opts.now();
      const fresh = unknown.get(keyHash);
      if (fresh && fresh.expires > now) return Promise.resolve(undefined);
      if (fresh) unknown.delete(keyHash);
      const hit = entries.get(keyHash);
      if (hit && hit.expires > now) return Promise.resolve(hit.key);
      const load = loading.run(keyHash, async () => {
        const started = generation;
        const key = await opts.load(keyHash);
        if (started === generation) remember(keyHash, key);
        return key;
      });
      if (!hit) return load;
      // Expired: reloaded, but served while the reload is slow or fails (for a while).
      if (now - hit.expires > MAX_STALE_KEY_MS) {
        entries.delete(keyHash);
        return load;
      }
      return orStaleAfter(load, hit.key, staleAfterMs, 'API key lookup');
    },
    clear() {
      generation += 1;
      entries.clear();
      unknown.clear();
      loading.clear();
    },
    get size() {
      return entries.size + unknown.size;
    },
  };
}
