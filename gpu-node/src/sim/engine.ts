// The simulated engine: a continuous-batching scheduler in the manner of vLLM's. Up to
// max_num_seqs sequences run at once; the rest wait in FIFO order. Each running sequence
// has a time its next token is due; one timer, armed for the earliest due time, serves
// every sequence (a heap orders them), so 256 concurrent streams cost one timer, not 256.
// When the event loop falls behind, a sequence catches up: every token due by then is
// handed over in one call, as an engine would have produced them meanwhile.
import { performance } from 'node:perf_hooks';
import { interTokenDelayMs, scheduleFirstToken, type LatencyParams } from './latency.ts';
import { Histogram, E2E_BUCKETS, TTFT_BUCKETS } from './metrics.ts';
import { PrefixCache, cachedPromptTokens } from './prefix-cache.ts';
import { createRng, type Rng } from './prng.ts';
import { BLOCK_SIZE } from './tokenizer.ts';

export interface EngineConfig extends LatencyParams {
  prefixCacheTokens: number;
  // Tokens the KV cache holds; running sequences' prompt and output tokens fill it.
  kvCapacityTokens: number;
}

// A request as the engine sees it; the HTTP layer implements it.
export interface Job {
  readonly promptTokens: number;
  readonly blockHashes: readonly number[];
  // Tokens to generate; 0 for a prefill-only request (embeddings).
  readonly outputTokens: number;
  // Seeds the jitter of this sequence's delays.
  readonly timingSeed: number;
  // Tokens [from, to) have been generated; `done` comes with the last of them (for a
  // prefill-only job, once, with from = to = 0).
  onTokens(from: number, to: number, done: boolean): void;
}

type SequenceState = 'waiting' | 'running' | 'done' | 'cancelled';

export class Sequence {
  state: SequenceState = 'waiting';
  dueAt = 0;
  generated = 0;
  cachedTokens = 0;

  constructor(
    readonly job: Job,
    readonly arrivalAt: number,
    readonly rng: Rng,
  ) {}
}

export interface EngineStats {
  running: number;
  waiting: number;
  kvCacheUsage: number;
  prefixCacheQueries: number;
  prefixCacheHits: number;
  promptTokens: number;
  generationTokens: number;
}

// Node timers have millisecond resolution: whatever falls due within the next one is
// served now rather than by a timer that may fire no sooner anyway.
const SLACK_MS = 1;

export class Engine {
  readonly ttft = new Histogram(TTFT_BUCKETS);
  readonly e2e = new Histogram(E2E_BUCKETS);
  private readonly cache: PrefixCache;
  private readonly heap: Sequence[] = [];
  private queue: (Sequence | undefined)[] = [];
  private queueHead = 0;
  private running = 0;
  private waiting = 0;
  private kvTokens = 0;
  private prefixCacheQueries = 0;
  private prefixCacheHits = 0;
  private promptTokens = 0;
  private generationTokens = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  // When the prefills admitted so far are done (latency.ts: prefill is serial).
  private prefillFreeAt = 0;
  // While hung (a fault), nothing progresses until hungUntil; Infinity: until stopped.
  private hungAt = 0;
  private hungUntil = -Infinity;
  private resumeTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: EngineConfig,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.cache = new PrefixCache(config.prefixCacheTokens, BLOCK_SIZE);
  }

  stats(): EngineStats {
    return {
      running: this.running,
      waiting: this.waiting,
      kvCacheUsage: Math.min(1, this.kvTokens / Math.max(1, this.config.kvCapacityTokens)),
      prefixCacheQueries: this.prefixCacheQueries,
      prefixCacheHits: this.prefixCacheHits,
      promptTokens: this.promptTokens,
      generationTokens: this.generationTokens,
    };
  }

  submit(job: Job): Sequence {
    const now = this.now();
    const seq = new Sequence(job, now, createRng(job.timingSeed));
    // FIFO: nobody overtakes a waiting sequence. A hung engine admits nothing.
    if (this.running < this.config.maxNumSeqs && this.waiting === 0 && !this.isHung(now)) {
      this.admit(seq, now);
    } else {
      this.queue.push(seq);
      this.waiting++;
    }
    this.arm(now);
    return seq;
  }

  // Stops a sequence at once (the client went away): its slot goes to the next in line.
  cancel(seq: Sequence): void {
    if (seq.state === 'running') {
      seq.state = 'cancelled';
      this.release(seq);
      const now = this.now();
      this.admitWaiting(now);
      this.arm(now);
    } else if (seq.state === 'waiting') {
      // Left in the queue and skipped when reached; the count drops now.
      seq.state = 'cancelled';
      this.waiting--;
    }
  }

  // A fault: the engine stops making progress for `ms` (Infinity: until stopped), as a GPU
  // or collective hang does, while its HTTP side keeps answering. Requests keep arriving
  // and wait; when it resumes, every due time moves by the time lost.
  hang(ms: number): void {
    const now = this.now();
    if (this.isHung(now)) return;
    this.hungAt = now;
    this.hungUntil = now + ms;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
    if (Number.isFinite(ms)) this.resumeTimer = setTimeout(this.resume, ms);
  }

  get hung(): boolean {
    return this.isHung(this.now());
  }

  private isHung(now: number): boolean {
    return now < this.hungUntil;
  }

  private readonly resume = (): void => {
    this.resumeTimer = undefined;
    const now = this.now();
    const lost = now - this.hungAt;
    this.hungUntil = -Infinity;
    for (const seq of this.heap) seq.dueAt += lost;
    this.prefillFreeAt += lost;
    this.admitWaiting(now);
    this.arm(now);
  };

  // Drops every sequence and the timer, without calling back: the owner ends its requests.
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.resumeTimer !== undefined) clearTimeout(this.resumeTimer);
    this.timer = undefined;
    this.resumeTimer = undefined;
    this.hungUntil = -Infinity;
    this.timerAt = Infinity;
    for (const seq of this.heap) seq.state = 'cancelled';
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const seq = this.queue[i];
      if (seq) seq.state = 'cancelled';
    }
    this.heap.length = 0;
    this.queue = [];
    this.queueHead = 0;
    this.running = 0;
    this.waiting = 0;
    this.kvTokens = 0;
  }

  private admit(seq: Sequence, now: number): void {
    const { job } = seq;
    seq.state = 'running';
    this.running++;
    if (this.cache.capacityBlocks > 0) {
      const hitBlocks = this.cache.match(job.blockHashes);
      seq.cachedTokens = cachedPromptTokens(job.promptTokens, hitBlocks, BLOCK_SIZE);
      this.cache.insert(job.blockHashes);
      this.prefixCacheQueries += job.promptTokens;
      this.prefixCacheHits += seq.cachedTokens;
    }
    this.kvTokens += job.promptTokens;
    const uncached = job.promptTokens - seq.cachedTokens;
    const first = scheduleFirstToken(this.config, now, this.prefillFreeAt, uncached, seq.rng());
    this.prefillFreeAt = first.prefillFreeAt;
    seq.dueAt = first.dueAt;
    this.push(seq);
  }

  private admitWaiting(now: number): void {
    if (this.isHung(now)) return;
    while (this.running < this.config.maxNumSeqs && this.waiting > 0) {
      const seq = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined;
      if (seq?.state === 'waiting') {
        this.waiting--;
        this.admit(seq, now);
      }
    }
    // Reclaims the consumed front of the queue now and then, not on every dequeue.
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  private release(seq: Sequence): void {
    this.running--;
    this.kvTokens -= seq.job.promptTokens + seq.generated;
  }

  private arm(now: number): void {
    if (this.isHung(now)) return;
    const next = this.heap[0];
    if (next === undefined) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Infinity;
      return;
    }
    if (this.timer !== undefined && this.timerAt <= next.dueAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = next.dueAt;
    this.timer = setTimeout(this.tick, Math.max(0, next.dueAt - now));
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.now();
    const horizon = now + SLACK_MS;
    for (
      let next = this.heap[0];
      next !== undefined && next.dueAt <= horizon;
      next = this.heap[0]
    ) {
      this.pop();
      if (next.state === 'running') this.advance(next, now, horizon);
    }
    this.arm(now);
  };

  private advance(seq: Sequence, now: number, horizon: number): void {
    const { job } = seq;
    const from = seq.generated;
    if (from === 0) this.promptTokens += job.promptTokens;
    if (job.outputTokens > 0) {
      if (from === 0) this.ttft.observe((now - seq.arrivalAt) / 1000);
      while (seq.generated < job.outputTokens && seq.dueAt <= horizon) {
        seq.generated++;
        if (seq.generated < job.outputTokens) {
          seq.dueAt += interTokenDelayMs(this.config, this.running, seq.rng());
        }
      }
      const produced = seq.generated - from;
      this.generationTokens += produced;
      this.kvTokens += produced;
    }
    const done = seq.generated === job.outputTokens;
    if (done) {
      seq.state = 'done';
      this.release(seq);
      this.e2e.observe((now - seq.arrivalAt) / 1000);
      this.admitWaiting(now);
    } else {
      this.push(seq);
    }
    try {
      job.onTokens(from, seq.generated, done);
    } catch (err) {
      // One broken request must not stall every other stream served by this tick.
      this.cancel(seq);
      console.error('fleetgate-sim: request callback failed:', err);
    }
  }

  // A binary min-heap on dueAt.
  private push(seq: Sequence): void {
    const heap = this.heap;
    let i = heap.push(seq) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      if (p === undefined || p.dueAt <= seq.dueAt) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = seq;
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const r = l + 1;
      const left = heap[l];
      const right = heap[r];
      if (left === undefined) break;
      const child = right !== undefined && right.dueAt < left.dueAt ? right : left;
      if (child.dueAt >= last.dueAt) break;
      heap[i] = child;
      i = child === left ? l : r;
    }
    heap[i] = last;
  }
}
