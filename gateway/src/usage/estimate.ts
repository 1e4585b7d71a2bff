// Prompt tokens estimated from the request, for the rows of answers that never reported
// usage (a stream cut off by the client or the node before the engine's usage chunk). The
// gateway has no tokenizer for the served model, so it uses the usual rule of thumb for
// English text with BPE tokenizers: about 4 characters per token, counted over the text a
// chat template renders (message contents and names, tool call arguments, tool
// definitions), plus 4 tokens per message for the template's role markers. Token-id
// prompts (completions with arrays of numbers) are counted exactly. Images and audio are
// not counted. It is an estimate: it errs low for code and non-Latin scripts.

export const CHARS_PER_TOKEN = 4;
export const TOKENS_PER_MESSAGE = 4;
// Nesting deeper than this is not walked (the body is already validated and bounded).
const MAX_DEPTH = 32;
// Parts whose strings are not text the model reads as such.
const SKIPPED_KEYS = new Set(['image_url', 'input_audio', 'file', 'video_url']);

function textLength(value: unknown, depth = 0): number {
  if (typeof value === 'string') return value.length;
  if (depth >= MAX_DEPTH || typeof value !== 'object' || value === null) return 0;
  let total = 0;
  if (Array.isArray(value)) {
    for (const item of value) total += textLength(item, depth + 1);
    return total;
  }
  for (const [key, item] of Object.entries(value)) {
    if (!SKIPPED_KEYS.has(key)) total += textLength(item, depth + 1);
  }
  return total;
}

const tokensOf = (chars: number) => Math.ceil(chars / CHARS_PER_TOKEN);

// A completions prompt: text, a list of texts, a list of token ids, or a list of those.
function promptTokens(prompt: unknown): number {
  if (typeof prompt === 'string') return tokensOf(prompt.length);
  if (!Array.isArray(prompt)) return 0;
  if (prompt.every((p) => typeof p === 'number')) return prompt.length;
  let total = 0;
  for (const item of prompt) total += promptTokens(item);
  return total;
}

export function estimatePromptTokens(path: string, body: Record<string, unknown>): number {
  if (path === '/v1/chat/completions') {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const text = textLength(messages) + (body.tools === undefined ? 0 : textLength(body.tools));
    return tokensOf(text) + TOKENS_PER_MESSAGE * messages.length;
  }
  if (path === '/v1/completions') return promptTokens(body.prompt);
  if (path === '/v1/responses') {
    // Input items are messages (or tool outputs): the same template cost as chat's.
    const items = Array.isArray(body.input) ? body.input.length : 1;
    const text = textLength(body.input) + textLength(body.instructions) + textLength(body.tools);
    return tokensOf(text) + TOKENS_PER_MESSAGE * items;
  }
  if (path === '/v1/rerank' || path === '/v1/score') {
    // The query (or first text) is tokenized with every document it is scored against.
    let total = 0;
    for (const field of ['query', 'documents', 'text_1', 'text_2', 'queries', 'items']) {
      total += tokensOf(textLength(body[field]));
    }
    return total;
  }
  if (path === '/v1/images/generations') return tokensOf(textLength(body.prompt));
  if (path.startsWith('/v1/audio/')) return 0;
  return promptTokens(body.input);
}
