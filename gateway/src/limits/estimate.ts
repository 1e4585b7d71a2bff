// The token reservation of a request, made before it is forwarded: an upper bound of its
// prompt plus the most it may generate.
//
// The prompt bound is one token per UTF-8 byte of the text the engine will tokenize, plus
// a few tokens per message for the chat template. Byte-level tokenizers (BPE, SentencePiece
// with byte fallback) never emit more than one token per byte of text, so a budget is never
// overspent by a prompt larger than estimated; the price is reserving about four times the
// tokens a prompt really takes while it runs. Settlement returns the difference.
import { isObject, type JsonObject } from '../sse/inspect.ts';

// Chat templates wrap each message in role markers and separators.
export const TOKENS_PER_MESSAGE = 8;
export const TOKENS_PER_PROMPT = 8;

const encoder = new TextEncoder();
const bytes = (s: string) => encoder.encode(s).length;

function textTokens(value: unknown): number {
  if (typeof value === 'string') return bytes(value);
  // Token ids (completions, embeddings): one token each.
  if (typeof value === 'number') return 1;
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + textTokens(v), 0);
  if (isObject(value)) {
    // Content parts ({type: 'text', text}) and anything else an engine may render.
    return typeof value.text === 'string' ? bytes(value.text) : bytes(JSON.stringify(value));
  }
  return 0;
}

function chatPromptTokens(messages: unknown[]): number {
  let n = TOKENS_PER_PROMPT;
  for (const m of messages) {
    n += TOKENS_PER_MESSAGE;
    if (!isObject(m)) continue;
    if (typeof m.role === 'string') n += bytes(m.role);
    n += textTokens(m.content);
    if (m.tool_calls !== undefined) n += bytes(JSON.stringify(m.tool_calls));
  }
  return n;
}

export function estimatePromptTokens(path: string, body: JsonObject): number {
  if (path === '/v1/chat/completions') {
    const messages = Array.isArray(body.messages) ? body.messages : [];
    let n = chatPromptTokens(messages);
    if (body.tools !== undefined) n += bytes(JSON.stringify(body.tools));
    return n;
  }
  if (path === '/v1/completions') return TOKENS_PER_PROMPT + textTokens(body.prompt);
  if (path === '/v1/responses') {
    const input = body.input;
    let n = TOKENS_PER_PROMPT;
    if (typeof input === 'string') n += TOKENS_PER_MESSAGE + bytes(input);
    // Items are messages, tool calls and their outputs: their JSON bounds what a template
    // renders of them.
    else if (Array.isArray(input))
      n += TOKENS_PER_MESSAGE * input.length + bytes(JSON.stringify(input));
    if (typeof body.instructions === 'string') n += TOKENS_PER_MESSAGE + bytes(body.instructions);
    if (body.tools !== undefined) n += bytes(JSON.stringify(body.tools));
    return n;
  }
  if (path === '/v1/rerank' || path === '/v1/score') return scoringPromptTokens(body);
  if (path === '/v1/images/generations') return TOKENS_PER_PROMPT + textTokens(body.prompt);
  // Audio: the gateway cannot count what an upload will be, nor sees its fields.
  if (path.startsWith('/v1/audio/')) return 0;
  return textTokens(body.input);
}

// vLLM's rerank ({query, documents}) and score ({text_1, text_2}, or {queries, documents}),
// SGLang's score ({query, items}): every text is tokenized, each pair with its template.
const SCORING_FIELDS = ['query', 'documents', 'text_1', 'text_2', 'queries', 'items'];
function scoringPromptTokens(body: JsonObject): number {
  let n = TOKENS_PER_PROMPT;
  for (const field of SCORING_FIELDS) {
    const value = body[field];
    n += textTokens(value);
    if (Array.isArray(value)) n += TOKENS_PER_MESSAGE * value.length;
  }
  return n;
}

// Endpoints whose answers are not generated tokens.
const GENERATE_NO_TEXT = new Set([
  '/v1/embeddings',
  '/v1/rerank',
  '/v1/score',
  '/v1/images/generations',
]);
// Multipart uploads the gateway forwards unread: a cap cannot be added to them.
const CANNOT_ADD_CAP = (path: string) =>
  GENERATE_NO_TEXT.has(path) || path.startsWith('/v1/audio/');

const count = (v: unknown) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : undefined;

// The client's completion cap: max_completion_tokens wins over the older max_tokens, as in
// OpenAI's API and vLLM. Embeddings generate nothing.
export function completionCap(path: string, body: JsonObject): number | undefined {
  if (GENERATE_NO_TEXT.has(path)) return 0;
  if (path === '/v1/responses') return count(body.max_output_tokens);
  return count(body.max_completion_tokens) ?? count(body.max_tokens);
}

// The field of the body the default cap is added as, when the client set none.
export function capField(path: string): string {
  return path === '/v1/responses' ? 'max_output_tokens' : 'max_tokens';
}

// `n` (and `best_of` on completions) asks for several completions, each up to the cap.
function choices(body: JsonObject): number {
  const n = Math.max(count(body.n) ?? 1, count(body.best_of) ?? 1);
  return Math.max(1, n);
}

export interface Reservation {
  promptTokens: number;
  completionTokens: number;
  // The client set no cap: the gateway adds max_tokens = the default cap to the forwarded
  // body, so the reservation also bounds what the engine generates.
  capAdded: boolean;
  // Images the request may generate (priced per image).
  images: number;
}

export function reserveTokens(
  path: string,
  body: JsonObject,
  defaultMaxTokens: number,
): Reservation {
  const promptTokens = estimatePromptTokens(path, body);
  const cap = completionCap(path, body);
  const k = choices(body);
  // Image requests reserve the `n` images they ask for (and the tokens of their prompt).
  const images = path === '/v1/images/generations' ? k : 0;
  if (cap !== undefined) {
    return { promptTokens, completionTokens: cap * k, capAdded: false, images };
  }
  return {
    promptTokens,
    completionTokens: defaultMaxTokens * k,
    capAdded: !CANNOT_ADD_CAP(path),
    images,
  };
}
