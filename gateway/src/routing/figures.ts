// The engines' own figures, as their nodes last reported them in a heartbeat (stored in
// deployment_instances.metrics), and what an instance can run at once.

export interface EngineFigures {
  // Sequences the engine is running and holding in its queue.
  running: number;
  waiting: number;
  // KV-cache use, 0..1, where the engine reports it.
  kvCacheUsage: number | null;
}

// vLLM's default max_num_seqs; engines whose options do not say are counted as running
// this many sequences at once.
export const DEFAULT_CAPACITY = 256;

const count = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;

export function engineFiguresOf(
  metrics: Record<string, number> | null | undefined,
): EngineFigures | undefined {
  if (!metrics) return undefined;
  const running = count(metrics.requests_running);
  const waiting = count(metrics.requests_waiting);
  if (running === null && waiting === null) return undefined;
  const kv = count(metrics.kv_cache_usage);
  return {
    running: running ?? 0,
    waiting: waiting ?? 0,
    kvCacheUsage: kv === null ? null : Math.min(1, kv),
  };
}

// Sequences an instance runs at once, from its deployment's options: max_num_seqs (sim,
// and vLLM-style extra options), parallel (llama.cpp's slots), else DEFAULT_CAPACITY.
export function capacityOf(options: Record<string, unknown>): number {
  for (const name of ['max_num_seqs', 'parallel']) {
    const v = options[name];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  }
  return DEFAULT_CAPACITY;
}
