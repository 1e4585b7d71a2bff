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
  #usage: Usage | null = null;
  #outputs = 0;
  #ttftMs: number | null = null;
  #firstChoicesMs: number | null = null;

  constructor(init: MeterInit) {
    this.#init = init;
    this.#startedAt = init.now();
  }

  routedTo(target: { nodeId: string; instanceId: string }): void {
    this.nodeId = target.nodeId;
    this.instanceId = target.instanceId;
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

  fail(outcome: Exclude<Outcome, 'ok'>, code: string | null): void {
    // The first failure is the cause; what follows it (the stream ending) is a consequence.
    if (this.outcome !== 'ok') return;
    this.outcome = outcome;
    this.errorCode = code;
  }

  get failed(): boolean {
    return this.outcome !== 'ok';
  }

  finish(): UsageEvent {
    // Without an engine usage report (a stream cut short, or an engine that ignores
    // include_usage), completion tokens are estimated as the number of output deltas:
    // engines stream about one token per delta, so this slightly undercounts when a
    // delta carries several. The prompt size is then unknown and counted as 0.
    const usage = this.#usage ?? {
      promptTokens: 0,
      completionTokens: this.#outputs,
      totalTokens: this.#outputs,
    };
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
      createdAt: this.#startedAt,
    };
  }

  #elapsed(): number {
    return Math.max(0, Math.round(this.#init.now() - this.#startedAt));
  }
}
