// Where recent prefixes went, in this process only: block hash -> instance id, for the
// blocks beyond the routing key's (the key's own blocks are placed by consistent hashing
// and need no memory). Bounded, least recently used first out. It refines the stateless
// choice; a replica without it (a fresh isolate) still routes by the key alone.
import { KEY_BLOCKS } from './prompt-key.ts';

// About 64 bytes an entry: 65 536 entries stay near 4 MB.
export const DEFAULT_INDEX_ENTRIES = 65_536;

export class PrefixIndex {
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  readonly #where = new Map<number, string>();

  constructor(readonly maxEntries = DEFAULT_INDEX_ENTRIES) {}

  get size(): number {
    return this.#where.size;
  }

  // The instance that last got the longest prefix these hashes share beyond the key.
  lookup(hashes: readonly number[]): string | undefined {
    for (let i = hashes.length - 1; i >= KEY_BLOCKS; i -= 1) {
      const hash = hashes[i];
      if (hash === undefined) continue;
      const id = this.#where.get(hash);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  record(hashes: readonly number[], instanceId: string): void {
    for (let i = KEY_BLOCKS; i < hashes.length; i += 1) {
      const hash = hashes[i];
      if (hash === undefined) continue;
      this.#where.delete(hash);
      this.#where.set(hash, instanceId);
    }
    while (this.#where.size > this.maxEntries) {
      const oldest = this.#where.keys().next();
      if (oldest.done) break;
      this.#where.delete(oldest.value);
    }
  }
}
