// The latency model, as pure arithmetic so it is testable without clocks.
//   time to first token = (ttft_ms + uncached prompt tokens x prefill_ms_per_token) x jitter
//                         + the wait for prefills admitted earlier
//   each later token     = itl_ms x (1 + running / max_num_seqs) x jitter
// The slowdown factor stands for a batch that grows: decode steps get slower as more
// sequences share them, up to twice as slow at max_num_seqs.
//
// Prefill is compute-bound: a GPU processes prompt tokens at a fixed rate however they are
// batched (vLLM's chunked prefill spends a token budget per step), so prompts admitted
// together are prefilled one after the other, not each in parallel. A cache miss therefore
// costs its own prefill and delays every prompt behind it, which is what makes routing by
// prefix pay on a real engine; cached blocks cost nothing. The fixed ttft_ms overhead
// (scheduling, the first decode step) overlaps between sequences.

export interface LatencyParams {
  ttftMs: number;
  prefillMsPerToken: number;
  itlMs: number;
  // Fraction of each delay that may be added or removed at random (0 = none, 0.1 = +-10%).
  jitter: number;
  maxNumSeqs: number;
}

// `u` is a uniform draw in [0, 1): the caller supplies it so the result stays pure.
export function jitterFactor(jitter: number, u: number): number {
  return 1 + jitter * (2 * u - 1);
}

export function firstTokenDelayMs(p: LatencyParams, uncachedTokens: number, u: number): number {
  return (p.ttftMs + uncachedTokens * p.prefillMsPerToken) * jitterFactor(p.jitter, u);
}

// When a prompt admitted at `now` has its first token: its prefill starts when the
// prefills before it are done (`prefillFreeAt`), then takes its uncached tokens' time.
// Returns that time and when the prefill unit is free again.
export function scheduleFirstToken(
  p: LatencyParams,
  now: number,
  prefillFreeAt: number,
  uncachedTokens: number,
  u: number,
): { dueAt: number; prefillFreeAt: number } {
  const jitter = jitterFactor(p.jitter, u);
  const prefillEnd = Math.max(now, prefillFreeAt) + uncachedTokens * p.prefillMsPerToken * jitter;
  return { dueAt: prefillEnd + p.ttftMs * jitter, prefillFreeAt: prefillEnd };
}

export function slowdownFactor(running: number, maxNumSeqs: number): number {
  return 1 + Math.min(running, maxNumSeqs) / maxNumSeqs;
}

export function interTokenDelayMs(p: LatencyParams, running: number, u: number): number {
  return p.itlMs * slowdownFactor(running, p.maxNumSeqs) * jitterFactor(p.jitter, u);
}
