// Reads what the gateway needs out of OpenAI-shaped answers from engines: token usage,
// whether a chunk carries generated output (time to first token, and a token estimate
// when a stream is cut short), and errors, which some engines send inside a 200 stream.

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface UpstreamError {
  message: string;
  type: string | null;
  code: string | null;
}

export interface ChunkInfo {
  usage: Usage | null;
  // Number of entries in `choices` (0 when absent or empty).
  choices: number;
  // Number of choices in this chunk carrying generated output (text, content, reasoning,
  // tool calls). A role-only first delta or a bare finish_reason carries none.
  outputs: number;
  // Number of choices in this chunk with a finish_reason: the engine is done with them.
  finished: number;
  error: UpstreamError | null;
  // Present and empty `choices` with a usage object: the chunk `include_usage` adds.
  usageOnly: boolean;
  // The event ends the stream as `data: [DONE]` does (a Responses stream's
  // `response.completed`; such streams send no [DONE]).
  ends?: boolean;
}

export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0
    ? Math.trunc(value)
    : undefined;
}

// Chat's `prompt_tokens`/`completion_tokens`, or the Responses and Images APIs'
// `input_tokens`/`output_tokens`; a bare `total_tokens` (vLLM's rerank) counts as prompt.
export function readUsage(value: unknown): Usage | null {
  if (!isObject(value)) return null;
  const prompt = count(value.prompt_tokens) ?? count(value.input_tokens);
  const completion = count(value.completion_tokens) ?? count(value.output_tokens);
  if (prompt === undefined && completion === undefined) {
    const total = count(value.total_tokens);
    return total === undefined
      ? null
      : { promptTokens: total, completionTokens: 0, totalTokens: total };
  }
  const promptTokens = prompt ?? 0;
  const completionTokens = completion ?? 0;
  return {
    promptTokens,
    completionTokens,
    totalTokens: count(value.total_tokens) ?? promptTokens + completionTokens,
  };
}

// `{"error": {...}}` as OpenAI and vLLM send it, or `{"error": "text"}` as some servers do.
export function readError(value: unknown): UpstreamError | null {
  if (!isObject(value) || !('error' in value)) return null;
  const error = value.error;
  if (typeof error === 'string') return { message: error, type: null, code: null };
  if (!isObject(error)) return null;
  const code = error.code;
  return {
    message: typeof error.message === 'string' ? error.message : 'upstream error',
    type: typeof error.type === 'string' ? error.type : null,
    code: typeof code === 'string' || typeof code === 'number' ? String(code) : null,
  };
}

// Whether an engine's error says the request itself is wrong (a 4xx, vLLM's
// BadRequestError, OpenAI's invalid_request_error, a prompt over the context): another
// instance of the model would say the same, so it is not a reason to fail over. A 408 or a
// 429 (the engine is busy) blames the instance, not the request.
export function blamesRequest(error: UpstreamError): boolean {
  const code = error.code ?? '';
  if (/^4\d\d$/.test(code)) return code !== '408' && code !== '429';
  if (code === 'context_length_exceeded') return true;
  const type = error.type ?? '';
  return type === 'invalid_request_error' || type === 'BadRequestError';
}

const nonEmpty = (v: unknown) => (typeof v === 'string' ? v.length > 0 : false);

function hasOutput(choice: unknown): boolean {
  if (!isObject(choice)) return false;
  if (nonEmpty(choice.text)) return true;
  const delta = choice.delta;
  if (!isObject(delta)) return false;
  return (
    nonEmpty(delta.content) ||
    nonEmpty(delta.reasoning_content) ||
    nonEmpty(delta.reasoning) ||
    nonEmpty(delta.refusal) ||
    (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0)
  );
}

export function inspectChunk(chunk: JsonObject): ChunkInfo {
  const usage = readUsage(chunk.usage);
  const choices = Array.isArray(chunk.choices) ? chunk.choices : [];
  let outputs = 0;
  let finished = 0;
  for (const choice of choices) {
    if (hasOutput(choice)) outputs += 1;
    if (isObject(choice) && typeof choice.finish_reason === 'string') finished += 1;
  }
  return {
    usage,
    choices: choices.length,
    outputs,
    finished,
    error: readError(chunk),
    usageOnly: usage !== null && choices.length === 0,
  };
}

// JSON.parse for data that should be an object; anything else is null.
export function parseObject(text: string): JsonObject | null {
  try {
    const value: unknown = JSON.parse(text);
    return isObject(value) ? value : null;
  } catch {
    return null;
  }
}
