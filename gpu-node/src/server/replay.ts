// The tokens this node has accepted, until they expire: a data-plane token is good for one
// request. Bounded: when full, the entry closest to its expiry goes first (entries are kept
// in the order they came, and the gateway gives every token the same lifetime), so at worst
// a token in its last moments could be used twice; the node never refuses work for lack of
// room.

// Sized for about 3,000 requests a second over a 60 s token life (a few tens of MB).
export const DEFAULT_MAX_TOKENS = 200_000;

export class ReplayCache {
  // Token key -> when it stops being valid (ms since the epoch), in insertion order.
  private readonly seen = new Map<string, number>();
  evicted = 0;

  constructor(
    private readonly maxEntries = DEFAULT_MAX_TOKENS,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.seen.size;
  }

  // Records a token valid until `expiresAt`; false when it was already recorded and has not
  // expired (a replay).
  accept(key: string, expiresAt: number): boolean {
    const now = this.now();
    this.prune(now);
    const known = this.seen.get(key);
    if (known !== undefined && known > now) return false;
    if (known !== undefined) this.seen.delete(key);
    while (this.seen.size >= this.maxEntries) {
      const oldest = this.seen.keys().next();
      if (oldest.done) break;
      this.seen.delete(oldest.value);
      this.evicted += 1;
    }
    this.seen.set(key, expiresAt);
    return true;
  }

  // Drops expired entries from the front; stops at the first live one, so a request pays
  // for what expired since the last one, not for the whole cache.
  private prune(now: number): void {
    for (const [key, expiresAt] of this.seen) {
      if (expiresAt > now) break;
      this.seen.delete(key);
    }
  }
}
