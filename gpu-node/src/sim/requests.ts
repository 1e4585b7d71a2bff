// The request bodies the simulator accepts, validated at the edge, and what it derives
// from them: the prompt text (what the tokenizer and prefix cache see) and the length of
// the answer. Unknown fields are accepted and ignored, as vLLM ignores sampling options
// it does not use.
import { z } from 'zod';
import { mix32 } from './prng.ts';

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });

const Message = z.looseObject({
  role: z.string().min(1),
  content: z.union([z.string(), z.array(ContentPart), z.null()]).optional(),
  name: z.string().optional(),
  tool_calls: z.array(z.unknown()).optional(),
});

const StreamOptions = z
  .looseObject({
    include_usage: z.boolean().nullish(),
    continuous_usage_stats: z.boolean().nullish(),
  })
  .nullish();

const common = {
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stream_options: StreamOptions,
  max_tokens: z.number().int().nullish(),
  n: z.number().int().nullish(),
  seed: z.number().int().nullish(),
};

export const ChatRequestSchema = z.looseObject({
  ...common,
  messages: z.array(Message).min(1),
  max_completion_tokens: z.number().int().nullish(),
});

const TokenIds = z.array(z.number().int().min(0));

export const CompletionRequestSchema = z.looseObject({
  ...common,
  prompt: z.union([
    z.string(),
    z.array(z.string()).length(1),
    TokenIds.min(1),
    z.array(TokenIds.min(1)).length(1),
  ]),
});

export const EmbeddingRequestSchema = z.looseObject({
  model: z.string().nullish(),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1),
    TokenIds.min(1),
    z.array(TokenIds.min(1)).min(1),
  ]),
  encoding_format: z.enum(['float', 'base64']).nullish(),
  dimensions: z.number().int().min(1).max(4096).nullish(),
});

export type ChatRequest = z.infer<typeof ChatRequestSchema>;
export type CompletionRequest = z.infer<typeof CompletionRequestSchema>;
export type EmbeddingRequest = z.infer<typeof EmbeddingRequestSchema>;

// The prompt a chat becomes: a simple role-marked template, so that role changes and
// message boundaries cost tokens as they do under a real chat template.
export function chatPrompt(messages: ChatRequest['messages']): string {
  let prompt = '';
  for (const m of messages) {
    let text = '';
    if (typeof m.content === 'string') text = m.content;
    else if (Array.isArray(m.content)) {
      for (const part of m.content) if (typeof part.text === 'string') text += part.text;
    }
    if (m.tool_calls) text += JSON.stringify(m.tool_calls);
    prompt += `<|${m.role}|>\n${text}\n`;
  }
  return prompt + '<|assistant|>\n';
}

// A completion prompt as text, or as token ids.
export function completionPrompt(prompt: CompletionRequest['prompt']): string | number[] {
  if (typeof prompt === 'string') return prompt;
  const first = prompt[0];
  if (typeof first === 'string') return first;
  if (Array.isArray(first)) return first;
  return prompt as number[];
}

// Embedding inputs, one per vector: text, or token ids.
export function embeddingInputs(input: EmbeddingRequest['input']): (string | number[])[] {
  if (typeof input === 'string') return [input];
  const first = input[0];
  if (typeof first === 'number') return [input as number[]];
  return input as (string | number[])[];
}

export type FinishReason = 'stop' | 'length';

export interface OutputPlan {
  tokens: number;
  finishReason: FinishReason;
}

// Answers stop "naturally" after 16 to 128 tokens; a request's max_tokens is always
// filled (as with vLLM's ignore_eos), so benchmarks and tests get exact lengths.
export const NATURAL_MIN_TOKENS = 16;
export const NATURAL_MAX_TOKENS = 128;

export function planOutput(
  requestedMax: number | null | undefined,
  modelMax: number,
  seed: number,
): OutputPlan {
  if (requestedMax !== null && requestedMax !== undefined) {
    return { tokens: Math.min(requestedMax, modelMax), finishReason: 'length' };
  }
  const span = NATURAL_MAX_TOKENS - NATURAL_MIN_TOKENS + 1;
  const natural = NATURAL_MIN_TOKENS + (mix32(seed ^ 0x5eed) % span);
  return natural > modelMax
    ? { tokens: modelMax, finishReason: 'length' }
    : { tokens: natural, finishReason: 'stop' };
}
