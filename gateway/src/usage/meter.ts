// Builds the usage row of one request as it goes through the gateway. Bounded by design:
// ids, counters and timings only, never request or response bodies.
import type { ChunkInfo, Usage } from '../sse/inspect.ts';
import type { UsageEvent } from '../types.ts';

export type Outcome = UsageEvent['outcome'];

export interface MeterInit {
  // The gateway's request id.
  id: string;
  // The client's own id, stored for correlation only.
  clientRequestId?: string | undefined;
  keyId: string | null;
  endpoint: string;
  now: () => number;
}

export class UsageMeter {
  readonly #init: MeterInit;
  readonly #startedAt: number;
  model: string | null = null;
  stream = false;
  nodeId: string | null = null;
  instanceId: string | null = null;
  // The status sent to the client; a stream that fails later keeps its 200.
  status = 0;
  outcome: Outcome = 'ok';
  errorCode: string | null = null;
  // Prompt tokens estimated from the request (usage/estimate.ts), charged when an answer
  // that was served never reported its usage. A function, so the body is walked only for
  // those few answers and not on every request.
  estimatePrompt: () => number = () => 0;
  // Bytes of a streamed answer sent on to the client (counted by the relay).
  bytesOut = 0;
  // Images generated and seconds of audio, read from the answer (openai/metering.ts).
  images = 0;
  audioSeconds = 0;
  #usage: Usage | null = null;
  #outputs = 0;
  #ttftMs: number | null = null;
  #firstChoicesMs: number | null = null;

  constructor(init: MeterInit) {
    this.#init = init;
    this.#startedAt = init.now();
  }

  // Each attempt starts a fresh answer: the row holds the figures of the instance that
  // answered last, never a mix with an attempt that failed before the client saw anything.
  routedTo(target: { nodeId: string; instanceId: string }): void {
    this.resetAttempt();
    this.nodeId = target.nodeId;
    this.instanceId = target.instanceId;
  }

  // Forgets what an attempt observed (the request's start and its time to first token
  // measured from it stay: a client waits through every attempt).
  resetAttempt(): void {
    this.status = 0;
    this.outcome = 'ok';
    this.errorCode = null;
    this.bytesOut = 0;
    this.#usage = null;
    this.#outputs = 0;
    this.#ttftMs = null;
    this.#firstChoicesMs = null;
  }

  setUsage(usage: Usage | null): void {
    if (usage) this.#usage = usage;
  }

  // One streamed chunk as it reached the gateway from upstream.
  observeChunk(info: ChunkInfo): void {
    this.setUsage(info.usage);
    if (info.choices > 0 && this.#firstChoicesMs === null) this.#firstChoicesMs = this.#elapsed();
    if (info.outputs > 0) {
      this.#outputs += info.outputs;
      this.#ttftMs ??= this.#elapsed();
    }
  }

  // Whether the engine reported usage.
  get hasUsage(): boolean {
    return this.#usage !== null;
  }

  fail(outcome: Exclude<Outcome, 'ok'>, code: string | null): void {
    // The first failure is the cause; what follows it (the stream ending) is a consequence.
    if (this.outcome !== 'ok') return;
    this.outcome = outcome;
    this.errorCode = code;
  }

  // When the first generated output reached the gateway (ms after the start); null before.
  get firstTokenMs(): number | null {
    return this.#ttftMs;
  }

  get failed(): boolean {
    return this.outcome !== 'ok';
  }

  finish(): UsageEvent {
    // Without an engine usage report (a stream cut short, or an engine that ignores
    // include_usage), an answer the engine served (status 200) is charged the prompt
    // estimated from the request, and completion tokens counted as the output deltas:
    // engines stream about one token per delta, so this slightly undercounts when a delta
    // carries several. Refused or failed requests (no 200) are charged nothing.
    const usage = this.#usage ?? this.#estimatedUsage();
    return {
      id: this.#init.id,
      clientRequestId: this.#init.clientRequestId ?? null,
      keyId: this.#init.keyId,
      model: this.model,
      endpoint: this.#init.endpoint,
      nodeId: this.nodeId,
      instanceId: this.instanceId,
      stream: this.stream,
      status: this.status,
      outcome: this.outcome,
      errorCode: this.errorCode,
      promptTokens: usage.promptTokens,
      completionTokens: usage.completionTokens,
      totalTokens: usage.totalTokens,
      latencyMs: this.#elapsed(),
      // Streams only: the first chunk with generated output, else the first with choices
      // (an answer with no output at all). Non-streamed answers have no first token.
      ttftMs: this.stream ? (this.#ttftMs ?? this.#firstChoicesMs) : null,
      ...(this.images > 0 ? { images: this.images } : {}),
      ...(this.audioSeconds > 0 ? { audioSeconds: this.audioSeconds } : {}),
      createdAt: this.#startedAt,
    };
  }

  #estimatedUsage(): Usage {
    const prompt = this.status === 200 ? this.estimatePrompt() : 0;
    return {
      promptTokens: prompt,
      completionTokens: this.#outputs,
      totalTokens: prompt + this.#outputs,
    };
  }

  #elapsed(): number {
    return Math.max(0, Math.round(this.#init.now() - this.#startedAt));
  }
}
