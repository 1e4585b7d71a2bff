// A deterministic stand-in for a model's tokenizer. It is not BPE, but it behaves like one
// where the simulator needs it to: counts grow with text length the way real token counts
// do (letters in runs of up to 8, digits in runs of up to 3, each other symbol alone,
// whitespace folded into the next token), and identical prefixes give identical blocks,
// which is what the prefix cache keys on.

// vLLM's default KV-cache block size: the prefix cache hits whole blocks only.
export const BLOCK_SIZE = 16;

const TOKEN = /[\p{L}\p{M}]{1,8}|\p{N}{1,3}|[^\s\p{L}\p{M}\p{N}]/gu;

export function countTokens(text: string): number {
  TOKEN.lastIndex = 0;
  let n = 0;
  while (TOKEN.exec(text) !== null) n++;
  return n;
}

export interface PromptAnalysis {
  tokens: number;
  // One hash per full block; hash k covers every token of blocks 0..k (a hash chain), so
  // equal hashes mean equal prefixes, not merely equal blocks.
  blockHashes: number[];
}

// Two independent 32-bit FNV-1a lanes give a 53-bit key: collisions among the few
// thousand blocks a cache holds are then negligible.
const LANE_A = 0x811c9dc5;
const LANE_B = 0x3bd3_9e10;

export function analyzePrompt(text: string, blockSize = BLOCK_SIZE): PromptAnalysis {
  TOKEN.lastIndex = 0;
  const blockHashes: number[] = [];
  let a = LANE_A;
  let b = LANE_B;
  let tokens = 0;
  let inBlock = 0;
  let match: RegExpExecArray | null;
  while ((match = TOKEN.exec(text)) !== null) {
    const token = match[0];
    for (let i = 0; i < token.length; i++) {
      const c = token.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x01000197);
    }
    // A separator, so that tokens "ab","c" and "a","bc" hash apart.
    a = Math.imul(a ^ 0x1f, 0x01000193);
    b = Math.imul(b ^ 0x1f, 0x01000197);
    tokens++;
    if (++inBlock === blockSize) {
      blockHashes.push((a >>> 0) * 0x200000 + ((b >>> 0) >>> 11));
      inBlock = 0;
    }
  }
  return { tokens, blockHashes };
}

// A prompt given as token ids (the completions API allows it): one token per id.
export function analyzeTokenIds(ids: readonly number[], blockSize = BLOCK_SIZE): PromptAnalysis {
  const blockHashes: number[] = [];
  let a = LANE_A;
  let b = LANE_B;
  for (let i = 0; i < ids.length; i++) {
    const id = (ids[i] ?? 0) >>> 0;
    a = Math.imul(a ^ id, 0x01000193);
    b = Math.imul(b ^ id, 0x01000197);
    if ((i + 1) % blockSize === 0) blockHashes.push((a >>> 0) * 0x200000 + ((b >>> 0) >>> 11));
  }
  return { tokens: ids.length, blockHashes };
}

// The tokens themselves, for the few places that need their text (embeddings).
export function tokenize(text: string): string[] {
  return text.match(TOKEN) ?? [];
}
