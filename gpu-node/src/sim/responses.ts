// POST /v1/responses as vLLM's OpenAI server answers it: a response object with one
// assistant message, or, streamed, the typed events (`event: <type>` and `data: {...}`)
// from `response.created` through `response.output_text.delta` per token to
// `response.completed`, whose `response.usage` carries {input_tokens, output_tokens,
// total_tokens}. Such streams end with that event; there is no `data: [DONE]`.
import { z } from 'zod';
import {
  FAULT_AFTER_TOKENS,
  MID_STREAM_FAILURE,
  SHUTTING_DOWN,
  SSE_HEADERS,
  sendJson,
  sendWholeFault,
  type Answer,
  type AnswerContext,
  type Outcome,
} from './answers.ts';
import type { Sequence } from './engine.ts';
import { sendError } from './errors.ts';
import type { OutputPlan } from './requests.ts';
import { generateText, tokenText } from './vocabulary.ts';

const ContentPart = z.looseObject({ type: z.string(), text: z.string().optional() });
const InputItem = z.looseObject({
  role: z.string().optional(),
  content: z.union([z.string(), z.array(ContentPart)]).optional(),
  output: z.string().optional(),
});

export const ResponsesRequestSchema = z.looseObject({
  model: z.string().nullish(),
  input: z.union([z.string(), z.array(InputItem)]).optional(),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().min(1).nullish(),
  stream: z.boolean().nullish(),
  seed: z.number().int().nullish(),
});
export type ResponsesRequest = z.infer<typeof ResponsesRequestSchema>;

// The prompt the input becomes, marked by role as chat messages are (requests.ts).
export function responsesPrompt(body: ResponsesRequest): string {
  let prompt = body.instructions ? `<|system|>\n${body.instructions}\n` : '';
  const input = body.input ?? '';
  if (typeof input === 'string') return `${prompt}<|user|>\n${input}\n<|assistant|>\n`;
  for (const item of input) {
    let text = item.output ?? '';
    if (typeof item.content === 'string') text += item.content;
    else for (const part of item.content ?? []) text += part.text ?? '';
    prompt += `<|${item.role ?? 'tool'}|>\n${text}\n`;
  }
  return `${prompt}<|assistant|>\n`;
}

export class ResponsesAnswer implements Answer {
  readonly promptTokens: number;
  readonly blockHashes: readonly number[];
  readonly outputTokens: number;
  readonly timingSeed: number;
  seq: Sequence | undefined;
  private settled = false;
  private sequence = 0;
  private readonly itemId: string;
  private text = '';

  constructor(
    private readonly ctx: AnswerContext,
    private readonly stream: boolean,
    private readonly plan: OutputPlan,
    private readonly textSeed: number,
    private readonly request: { instructions: string | null; maxOutputTokens: number | null },
  ) {
    this.promptTokens = ctx.promptTokens;
    this.blockHashes = ctx.blockHashes;
    this.timingSeed = ctx.timingSeed;
    this.itemId = `msg_${ctx.id.slice(5)}`;
    this.outputTokens =
      ctx.fault === 'none' ? plan.tokens : Math.min(plan.tokens, FAULT_AFTER_TOKENS);
    ctx.res.on('close', () => {
      if (!this.settled) this.finish('abort');
    });
  }

  begin(): void {
    if (!this.stream) return;
    const { res } = this.ctx;
    res.writeHead(200, SSE_HEADERS);
    const response = this.response('in_progress', [], null);
    res.write(
      this.event('response.created', { response }) +
        this.event('response.in_progress', { response }) +
        this.event('response.output_item.added', {
          output_index: 0,
          item: this.message('in_progress', []),
        }) +
        this.event('response.content_part.added', {
          item_id: this.itemId,
          output_index: 0,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        }),
    );
  }

  onTokens(from: number, to: number, done: boolean): void {
    if (this.settled) return;
    const { res, fault } = this.ctx;
    if (!this.stream) {
      if (done) this.respond();
      return;
    }
    let out = '';
    for (let i = from; i < to; i++) {
      const delta = tokenText(this.textSeed, i);
      this.text += delta;
      out += this.event('response.output_text.delta', {
        item_id: this.itemId,
        output_index: 0,
        content_index: 0,
        delta,
        logprobs: [],
      });
    }
    if (!done) {
      res.write(out);
      return;
    }
    if (fault === 'drop') {
      this.finish('error');
      res.write(out, () => res.destroy());
      return;
    }
    if (fault === 'stream') {
      this.finish('error');
      const error = { code: 'server_error', message: MID_STREAM_FAILURE, param: null };
      res.end(out + this.event('error', error));
      return;
    }
    this.finish(this.plan.finishReason);
    const part = { type: 'output_text', text: this.text, annotations: [] };
    const item = this.message('completed', [part]);
    out +=
      this.event('response.output_text.done', {
        item_id: this.itemId,
        output_index: 0,
        content_index: 0,
        text: this.text,
        logprobs: [],
      }) +
      this.event('response.content_part.done', {
        item_id: this.itemId,
        output_index: 0,
        content_index: 0,
        part,
      }) +
      this.event('response.output_item.done', { output_index: 0, item }) +
      this.event('response.completed', {
        response: this.response('completed', [item], this.usage()),
      });
    res.end(out);
  }

  shutdown(): void {
    if (this.settled) return;
    this.finish('abort');
    const { res } = this.ctx;
    if (this.stream && res.headersSent) {
      res.end(this.event('error', { code: 'server_error', message: SHUTTING_DOWN, param: null }));
    } else sendError(res, 503, SHUTTING_DOWN);
  }

  private respond(): void {
    const { res, fault } = this.ctx;
    if (fault !== 'none') {
      this.finish('error');
      sendWholeFault(res, fault);
      return;
    }
    this.finish(this.plan.finishReason);
    const text = generateText(this.textSeed, this.outputTokens);
    const item = this.message('completed', [{ type: 'output_text', text, annotations: [] }]);
    sendJson(res, JSON.stringify(this.response('completed', [item], this.usage())));
  }

  private usage() {
    const output = this.seq?.generated ?? 0;
    return {
      input_tokens: this.promptTokens,
      input_tokens_details: { cached_tokens: this.seq?.cachedTokens ?? 0 },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: this.promptTokens + output,
    };
  }

  private message(status: string, content: unknown[]) {
    return { id: this.itemId, type: 'message', status, role: 'assistant', content };
  }

  private response(status: string, output: unknown[], usage: unknown) {
    const { id, created, model } = this.ctx;
    return {
      id,
      object: 'response',
      created_at: created,
      status,
      model,
      output,
      usage,
      error: null,
      incomplete_details: null,
      instructions: this.request.instructions,
      max_output_tokens: this.request.maxOutputTokens,
      metadata: {},
      parallel_tool_calls: true,
      temperature: 1,
      tool_choice: 'auto',
      tools: [],
      top_p: 1,
    };
  }

  private event(type: string, fields: Record<string, unknown>): string {
    const data = JSON.stringify({ type, sequence_number: this.sequence++, ...fields });
    return `event: ${type}\ndata: ${data}\n\n`;
  }

  private finish(outcome: Outcome): void {
    this.settled = true;
    this.ctx.settle(this, outcome);
  }
}
