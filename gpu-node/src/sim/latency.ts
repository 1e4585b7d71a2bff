// The latency model, as pure arithmetic so it is testable without clocks.
//   time to first token = (ttft_ms + uncached prompt tokens x prefill_ms_per_token) x jitter
//   each later token     = itl_ms x (1 + running / max_num_seqs) x jitter
// The slowdown factor stands for a batch that grows: decode steps get slower as more
// sequences share them, up to twice as slow at max_num_seqs.

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

export function slowdownFactor(running: number, maxNumSeqs: number): number {
  return 1 + Math.min(running, maxNumSeqs) / maxNumSeqs;
}

export function interTokenDelayMs(p: LatencyParams, running: number, u: number): number {
  return p.itlMs * slowdownFactor(running, p.maxNumSeqs) * jitterFactor(p.jitter, u);
}
