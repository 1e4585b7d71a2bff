// A bounded prefix cache in the manner of vLLM's automatic prefix caching: prompts are
// cut into fixed-size blocks keyed by a hash chain (see tokenizer.ts), a prompt reuses
// the longest run of leading blocks already cached, and the least recently used blocks
// are evicted when capacity runs out. Unlike vLLM it does not pin the blocks of running
// sequences: it is a cost model, not memory management.

// Tokens of a prompt served from the cache. Like vLLM, at least one prompt token is
// always computed, since the model needs it to produce the first output token.
export function cachedPromptTokens(
  promptTokens: number,
  hitBlocks: number,
  blockSize: number,
): number {
  return Math.max(0, Math.min(hitBlocks * blockSize, promptTokens - 1));
}

export function uncachedPromptTokens(
  promptTokens: number,
  hitBlocks: number,
  blockSize: number,
): number {
  return promptTokens - cachedPromptTokens(promptTokens, hitBlocks, blockSize);
}

export class PrefixCache {
  readonly capacityBlocks: number;
  // A Map iterates in insertion order: re-inserting a key on use makes the first key the
  // least recently used one.
  private readonly blocks = new Map<number, true>();

  constructor(
    capacityTokens: number,
    readonly blockSize: number,
  ) {
    this.capacityBlocks = Math.floor(capacityTokens / blockSize);
  }

  get size(): number {
    return this.blocks.size;
  }

  // How many leading blocks of the prompt are cached; marks them recently used.
  match(blockHashes: readonly number[]): number {
    let hits = 0;
    while (hits < blockHashes.length && this.blocks.has(blockHashes[hits] ?? -1)) hits++;
    this.touch(blockHashes, hits);
    return hits;
  }

  // Caches the prompt's blocks after its prefill. Only as many leading blocks as fit are
  // kept: storing more would evict the prompt's own first blocks and break its chain.
  insert(blockHashes: readonly number[]): void {
    this.touch(blockHashes, Math.min(blockHashes.length, this.capacityBlocks));
    while (this.blocks.size > this.capacityBlocks) {
      const oldest = this.blocks.keys().next();
      if (oldest.done) break;
      this.blocks.delete(oldest.value);
    }
  }

  // Marks the first n blocks used, last block first, so that a prompt's tail is evicted
  // before its head (as vLLM does): a surviving head still serves a shorter prefix.
  private touch(blockHashes: readonly number[], n: number): void {
    for (let i = n - 1; i >= 0; i--) {
      const hash = blockHashes[i];
      if (hash === undefined) continue;
      this.blocks.delete(hash);
      this.blocks.set(hash, true);
    }
  }
}
