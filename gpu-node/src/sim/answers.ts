// The requests in flight: each is a Job for the engine and knows how to write its own
// answer (a stream, a JSON body, or an injected failure) as the engine hands it tokens.
import type { ServerResponse } from 'node:http';
import { embed, toBase64 } from './embeddings.ts';
import type { Job, Sequence } from './engine.ts';
import { errorJson, sendError } from './errors.ts';
import {
  chatCompletionBody,
  completionBody,
  DONE_FRAME,
  errorFrame,
  StreamFrames,
  usage,
  type Endpoint,
} from './frames.ts';
import type { OutputPlan } from './requests.ts';
import { generateText } from './vocabulary.ts';

// What x-sim-error asked for besides a plain status: fail inside the stream, or drop the
// connection, after a few tokens.
export type Fault = 'none' | 'stream' | 'drop';
export const FAULT_AFTER_TOKENS = 3;

// How an answer ended, for the request counters: vLLM's finished reasons, plus failures.
export type Outcome = 'stop' | 'length' | 'abort' | 'error';

export interface Answer extends Job {
  seq: Sequence | undefined;
  // Called once the answer is admitted to the engine's queue.
  begin(): void;
  // Ends the answer early because the server is closing.
  shutdown(): void;
}

export interface AnswerContext {
  res: ServerResponse;
  id: string;
  created: number;
  model: string;
  fault: Fault;
  promptTokens: number;
  blockHashes: readonly number[];
  timingSeed: number;
  settle(answer: Answer, outcome: Outcome): void;
}

export const SSE_HEADERS = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
};

export function sendJson(res: ServerResponse, body: string): void {
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

export const MID_STREAM_FAILURE =
  'simulated failure in the middle of the stream (x-sim-error: stream)';
export const SHUTTING_DOWN = 'the engine simulator is shutting down';

// A non-streamed answer's injected fault: 'drop' closes the connection, 'stream' answers
// 500 (a whole answer has no middle to fail in).
export function sendWholeFault(res: ServerResponse, fault: Exclude<Fault, 'none'>): void {
  if (fault === 'drop') res.destroy();
  else sendError(res, 500, MID_STREAM_FAILURE);
}

export class TextAnswer implements Answer {
  readonly promptTokens: number;
  readonly blockHashes: readonly number[];
  readonly outputTokens: number;
  readonly timingSeed: number;
  seq: Sequence | undefined;
  private readonly frames: StreamFrames | undefined;
  private settled = false;

  constructor(
    private readonly ctx: AnswerContext,
    private readonly endpoint: Endpoint,
    private readonly stream: boolean,
    private readonly includeUsage: boolean,
    private readonly plan: OutputPlan,
    private readonly textSeed: number,
  ) {
    this.promptTokens = ctx.promptTokens;
    this.blockHashes = ctx.blockHashes;
    this.timingSeed = ctx.timingSeed;
    this.outputTokens =
      ctx.fault === 'none' ? plan.tokens : Math.min(plan.tokens, FAULT_AFTER_TOKENS);
    this.frames = stream
      ? new StreamFrames(endpoint, ctx.id, ctx.created, ctx.model, textSeed, plan.finishReason)
      : undefined;
    ctx.res.on('close', () => {
      // Closed before the answer was written: the client went away.
      if (!this.settled) this.finish('abort');
    });
  }

  // Sends the stream's headers at once, as vLLM (uvicorn) does; tokens follow.
  begin(): void {
    if (this.stream) {
      this.ctx.res.writeHead(200, SSE_HEADERS);
      this.ctx.res.flushHeaders();
    }
  }

  onTokens(from: number, to: number, done: boolean): void {
    if (this.settled) return;
    const { res, fault } = this.ctx;
    if (!this.frames) {
      if (done) this.respond();
      return;
    }
    let out = from === 0 ? this.frames.role() : '';
    out += this.frames.tokens(from, to, done && fault === 'none');
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
      res.end(out + errorFrame(errorJson(500, MID_STREAM_FAILURE)) + DONE_FRAME);
      return;
    }
    this.finish(this.plan.finishReason);
    if (this.includeUsage) out += this.frames.usage(this.usage());
    res.end(out + DONE_FRAME);
  }

  shutdown(): void {
    if (this.settled) return;
    this.finish('abort');
    const { res } = this.ctx;
    if (this.stream && res.headersSent)
      res.end(errorFrame(errorJson(503, SHUTTING_DOWN)) + DONE_FRAME);
    else sendError(res, 503, SHUTTING_DOWN);
  }

  private usage() {
    return usage(this.promptTokens, this.seq?.generated ?? 0, this.seq?.cachedTokens ?? 0);
  }

  private respond(): void {
    const { res, fault, id, created, model } = this.ctx;
    if (fault !== 'none') {
      this.finish('error');
      sendWholeFault(res, fault);
      return;
    }
    this.finish(this.plan.finishReason);
    const text = generateText(this.textSeed, this.outputTokens);
    const build = this.endpoint === 'chat' ? chatCompletionBody : completionBody;
    sendJson(res, build(id, created, model, text, this.plan.finishReason, this.usage()));
  }

  private finish(outcome: Outcome): void {
    this.settled = true;
    this.ctx.settle(this, outcome);
  }
}

export class EmbeddingAnswer implements Answer {
  readonly promptTokens: number;
  readonly blockHashes: readonly number[] = [];
  readonly outputTokens = 0;
  readonly timingSeed: number;
  seq: Sequence | undefined;
  private settled = false;

  constructor(
    private readonly ctx: AnswerContext,
    private readonly inputs: readonly (string | number[])[],
    private readonly dimensions: number,
    private readonly base64: boolean,
  ) {
    this.promptTokens = ctx.promptTokens;
    this.timingSeed = ctx.timingSeed;
    ctx.res.on('close', () => {
      if (!this.settled) this.finish('abort');
    });
  }

  begin(): void {}

  onTokens(_from: number, _to: number, done: boolean): void {
    if (this.settled || !done) return;
    const { res, fault, id, created, model } = this.ctx;
    if (fault !== 'none') {
      this.finish('error');
      if (fault === 'drop') res.destroy();
      else sendError(res, 500, 'simulated failure (x-sim-error: stream)');
      return;
    }
    this.finish('stop');
    const data = this.inputs.map((input, index) => {
      const vector = embed(input, this.dimensions);
      return {
        index,
        object: 'embedding',
        embedding: this.base64 ? toBase64(vector) : Array.from(vector),
      };
    });
    const body = JSON.stringify({
      id,
      object: 'list',
      created,
      model,
      data,
      usage: {
        prompt_tokens: this.promptTokens,
        total_tokens: this.promptTokens,
        completion_tokens: 0,
        prompt_tokens_details: null,
      },
    });
    sendJson(res, body);
  }

  shutdown(): void {
    if (this.settled) return;
    this.finish('abort');
    sendError(this.ctx.res, 503, SHUTTING_DOWN);
  }

  private finish(outcome: Outcome): void {
    this.settled = true;
    this.ctx.settle(this, outcome);
  }
}
