import { afterEach, describe, expect, it } from 'vitest';
import { Engine, type EngineConfig, type Job } from './engine.ts';
import { analyzePrompt } from './tokenizer.ts';

// Delays long enough that no timer fires during a synchronous check.
const SLOW: EngineConfig = {
  ttftMs: 60_000,
  prefillMsPerToken: 0,
  itlMs: 60_000,
  jitter: 0,
  maxNumSeqs: 2,
  prefixCacheTokens: 1024,
  kvCapacityTokens: 1000,
};

const FAST: EngineConfig = { ...SLOW, ttftMs: 0, itlMs: 0.2, maxNumSeqs: 4 };

interface Recorded extends Job {
  calls: [number, number, boolean][];
  done: Promise<void>;
}

function job(promptTokens: number, outputTokens: number, blockHashes: number[] = []): Recorded {
  let resolve = (): void => {};
  const done = new Promise<void>((r) => (resolve = r));
  const calls: [number, number, boolean][] = [];
  return {
    promptTokens,
    blockHashes,
    outputTokens,
    timingSeed: 1,
    calls,
    done,
    onTokens(from, to, finished) {
      calls.push([from, to, finished]);
      if (finished) resolve();
    },
  };
}

let engine: Engine | undefined;
afterEach(() => engine?.stop());

describe('Engine scheduling', () => {
  it('runs up to max_num_seqs and queues the rest in FIFO order', () => {
    engine = new Engine(SLOW);
    const seqs = [job(10, 5), job(20, 5), job(30, 5), job(40, 5)].map((j) => engine?.submit(j));
    expect(engine.stats()).toMatchObject({ running: 2, waiting: 2 });
    expect(seqs.map((s) => s?.state)).toEqual(['running', 'running', 'waiting', 'waiting']);

    // A running sequence that goes away frees its slot for the head of the queue.
    if (seqs[0]) engine.cancel(seqs[0]);
    expect(seqs.map((s) => s?.state)).toEqual(['cancelled', 'running', 'running', 'waiting']);
    expect(engine.stats()).toMatchObject({ running: 2, waiting: 1 });

    // A waiting one leaves the count at once.
    if (seqs[3]) engine.cancel(seqs[3]);
    expect(engine.stats()).toMatchObject({ running: 2, waiting: 0 });
  });

  it('counts the tokens of running sequences against the KV cache', () => {
    engine = new Engine(SLOW);
    const a = engine.submit(job(100, 5));
    engine.submit(job(150, 5));
    engine.submit(job(400, 5)); // waiting: holds no KV cache yet
    expect(engine.stats().kvCacheUsage).toBeCloseTo(0.25);
    engine.cancel(a);
    expect(engine.stats().kvCacheUsage).toBeCloseTo(0.55);
  });

  it('prefills a repeated prompt from the prefix cache and counts the hit', () => {
    engine = new Engine(SLOW);
    const p = analyzePrompt('lorem ipsum dolor sit amet '.repeat(10));
    const first = engine.submit(job(p.tokens, 3, p.blockHashes));
    const second = engine.submit(job(p.tokens, 3, p.blockHashes));
    expect(first.cachedTokens).toBe(0);
    expect(second.cachedTokens).toBe(48);
    expect(engine.stats()).toMatchObject({
      prefixCacheQueries: 2 * p.tokens,
      prefixCacheHits: 48,
    });
  });

  it('hands over every token once, in order, and finishes', async () => {
    engine = new Engine(FAST);
    const jobs = [job(5, 40), job(5, 1), job(5, 25), job(5, 0), job(5, 12), job(5, 7)];
    for (const j of jobs) engine.submit(j);
    await Promise.all(jobs.map((j) => j.done));
    for (const j of jobs) {
      let next = 0;
      for (const [from, to] of j.calls) {
        expect(from).toBe(next);
        expect(to).toBeGreaterThanOrEqual(from);
        next = to;
      }
      expect(next).toBe(j.outputTokens);
      expect(j.calls.filter(([, , done]) => done)).toHaveLength(1);
      expect(j.calls.at(-1)?.[2]).toBe(true);
    }
    expect(engine.stats()).toMatchObject({
      running: 0,
      waiting: 0,
      kvCacheUsage: 0,
      generationTokens: 40 + 1 + 25 + 12 + 7,
      promptTokens: 30,
    });
    expect(engine.ttft.count).toBe(5);
    expect(engine.e2e.count).toBe(6);
  });

  it('stops calling back a cancelled sequence and counts only what it generated', async () => {
    engine = new Engine({ ...FAST, itlMs: 2 });
    const j = job(5, 1000);
    const cancelled = new Promise<void>((resolve) => {
      const inner = j.onTokens.bind(j);
      j.onTokens = (from, to, done) => {
        inner(from, to, done);
        if (to >= 3) {
          // Called back from the engine's timer, so after submit() has returned.
          engine?.cancel(seqRef);
          resolve();
        }
      };
    });
    const seqRef = engine.submit(j);
    await cancelled;
    const calls = j.calls.length;
    const generated = engine.stats().generationTokens;
    await new Promise((r) => setTimeout(r, 30));
    expect(j.calls.length).toBe(calls);
    expect(engine.stats().generationTokens).toBe(generated);
    expect(generated).toBeLessThan(1000);
    expect(engine.stats().running).toBe(0);
  });
});

describe('Engine prefill and faults', () => {
  it('prefills admitted prompts one after the other, and cached blocks cost nothing', () => {
    const config: EngineConfig = { ...SLOW, ttftMs: 5, prefillMsPerToken: 1, maxNumSeqs: 8 };
    engine = new Engine(config, () => 1000);
    const shared = analyzePrompt('a shared system prompt of some length '.repeat(20));
    const first = engine.submit(job(shared.tokens, 5, shared.blockHashes));
    const second = engine.submit(job(shared.tokens, 5, shared.blockHashes));
    const other = engine.submit(job(100, 5));
    // The first computes its whole prompt; the second reuses it but for the last token,
    // and waits for the first's prefill; the third waits for both.
    expect(first.cachedTokens).toBe(0);
    expect(first.dueAt).toBe(1000 + shared.tokens + 5);
    expect(second.cachedTokens).toBeGreaterThan(0);
    const secondPrefill = shared.tokens - second.cachedTokens;
    expect(second.dueAt).toBe(1000 + shared.tokens + secondPrefill + 5);
    expect(other.dueAt).toBe(1000 + shared.tokens + secondPrefill + 100 + 5);
  });

  it('makes no progress while hung, keeps taking requests, and resumes', async () => {
    engine = new Engine(FAST);
    engine.hang(Infinity);
    expect(engine.hung).toBe(true);
    const stuck = job(10, 3);
    const seq = engine.submit(stuck);
    expect(seq.state).toBe('waiting');
    await new Promise((r) => setTimeout(r, 30));
    expect(stuck.calls).toEqual([]);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 1 });
    engine.stop();

    engine = new Engine(FAST);
    const before = job(10, 50);
    engine.submit(before);
    engine.hang(20);
    const during = job(10, 3);
    engine.submit(during);
    await Promise.all([before.done, during.done]);
    expect(engine.hung).toBe(false);
    expect(during.calls.at(-1)?.[2]).toBe(true);
    expect(before.calls.at(-1)).toEqual([expect.any(Number), 50, true]);
  });
});
