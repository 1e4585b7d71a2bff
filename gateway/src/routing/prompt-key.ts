// What the prefix policy keys on: the prompt as the engine will see it, cut into fixed-size
// blocks with a chained hash (hash k covers blocks 0..k), so two requests share hash k
// exactly when they share their first k + 1 blocks. The gateway has no tokenizer, so
// blocks are measured in characters; the hash is plain arithmetic on UTF-16 code units,
// identical in every isolate, replica and process.
//
// Block size. Engines cache whole KV blocks (vLLM 16 tokens, SGLang 1); what matters here
// is only that the blocks are small against the prefixes worth sharing (system prompts
// and conversation histories of thousands of tokens) and large enough that hashing is
// cheap. 256 characters is about 64 tokens of English, the granularity llm-d's
// prefix-cache scorer uses (64-token blocks). The routing key is the hash of the first
// KEY_BLOCKS blocks (1024 characters, about 256 tokens, the prefix length SGLang's
// `prefix_hash` policy uses by default): long enough that a shared system prompt or the
// first turns of a conversation decide where a request goes, short enough that every
// turn of a conversation keeps the same key.

export const BLOCK_CHARS = 256;
export const KEY_BLOCKS = 4;
// Prompts longer than this are hashed only this far: the key needs the first blocks, and
// the index (prefix-index.ts) gains little from matching deeper than this.
export const MAX_HASHED_BLOCKS = 64;

// 32-bit FNV-1a over a string's code units, continuing from `seed`.
function fnv1a(text: string, from: number, to: number, seed: number): number {
  let h = seed;
  for (let i = from; i < to; i += 1) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const FNV_OFFSET = 0x811c9dc5;

// Chained block hashes of `text`: one per full block, then one for the partial tail (so a
// short prompt still has a key of its own).
export function blockHashes(text: string, blockChars = BLOCK_CHARS): number[] {
  const hashes: number[] = [];
  let h = FNV_OFFSET;
  const end = Math.min(text.length, blockChars * MAX_HASHED_BLOCKS);
  for (let from = 0; from < end; from += blockChars) {
    h = fnv1a(text, from, Math.min(end, from + blockChars), h);
    hashes.push(h);
  }
  return hashes;
}

// The routing key of a prompt: the chained hash of its first KEY_BLOCKS blocks (or of the
// whole prompt when shorter). Undefined for an empty prompt.
export function routingKey(hashes: readonly number[]): number | undefined {
  if (hashes.length === 0) return undefined;
  return hashes[Math.min(hashes.length, KEY_BLOCKS) - 1];
}

const field = (value: unknown, name: string): unknown =>
  typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content as unknown[]) {
    const value = field(part, 'text');
    if (typeof value === 'string') text += value;
  }
  return text;
}

// The prompt text of a request body, roughly as an engine's chat template renders it:
// role markers and message contents in order. The exact template does not matter, only
// that a request extending another (the next turn of a conversation) renders to a text
// extending the other's.
export function promptText(body: Record<string, unknown>): string {
  const { messages, prompt, input } = body;
  if (Array.isArray(messages)) {
    let text = '';
    for (const m of messages as unknown[]) {
      const role = field(m, 'role');
      text += `<|${typeof role === 'string' ? role : ''}|>\n${textOf(field(m, 'content'))}\n`;
    }
    return text;
  }
  const source = prompt ?? input;
  if (typeof source === 'string') return source;
  if (Array.isArray(source)) {
    const first: unknown = source[0];
    if (typeof first === 'string') return first;
    // Token ids (one prompt, or the first of several): their decimal text keys as well.
    if (Array.isArray(first)) return first.join(' ');
    return source.join(' ');
  }
  return '';
}
