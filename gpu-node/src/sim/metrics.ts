// Prometheus text exposition (format 0.0.4) under vLLM's current (v1 engine) metric names,
// labelled model_name as vLLM does, so the daemon's metrics mapping and any dashboard
// built for vLLM read the simulator unchanged.
import type { EngineStats } from './engine.ts';

// vLLM's buckets for time to first token and end-to-end latency, in seconds.
export const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
  40.0, 80.0, 160.0, 640.0, 2560.0,
];
export const E2E_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
  480.0, 960.0, 1920.0, 7680.0,
];

export class Histogram {
  // Per-bucket (not cumulative) counts; the last slot is +Inf.
  private readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length + 1).fill(0);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.buckets.length && value > (this.buckets[i] ?? Infinity)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }

  // Cumulative counts, one per bucket, then +Inf.
  cumulative(): number[] {
    let total = 0;
    return this.counts.map((c) => (total += c));
  }
}

export interface MetricsSnapshot {
  stats: EngineStats;
  ttft: Histogram;
  e2e: Histogram;
  // Finished requests by finish reason (stop, length, abort, error).
  finished: ReadonlyMap<string, number>;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  // vLLM (prometheus_client) writes floats; 1.0 rather than 1 keeps diffs against it small.
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

export function renderMetrics(modelName: string, m: MetricsSnapshot): string {
  const label = `model_name="${escapeLabel(modelName)}"`;
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, value: number): void => {
    out.push(
      `# HELP ${name} ${help}`,
      `# TYPE ${name} ${type}`,
      `${name}{${label}} ${formatValue(value)}`,
    );
  };
  const histogram = (name: string, help: string, h: Histogram): void => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    const cumulative = h.cumulative();
    h.buckets.forEach((le, i) => {
      out.push(
        `${name}_bucket{${label},le="${formatValue(le)}"} ${formatValue(cumulative[i] ?? 0)}`,
      );
    });
    out.push(`${name}_bucket{${label},le="+Inf"} ${formatValue(h.count)}`);
    out.push(`${name}_count{${label}} ${formatValue(h.count)}`);
    out.push(`${name}_sum{${label}} ${formatValue(h.sum)}`);
  };
  const s = m.stats;
  metric(
    'vllm:num_requests_running',
    'gauge',
    'Number of requests in model execution batches.',
    s.running,
  );
  metric(
    'vllm:num_requests_waiting',
    'gauge',
    'Number of requests waiting to be processed.',
    s.waiting,
  );
  metric(
    'vllm:kv_cache_usage_perc',
    'gauge',
    'KV-cache usage. 1 means 100 percent usage.',
    s.kvCacheUsage,
  );
  metric(
    'vllm:prefix_cache_queries_total',
    'counter',
    'Prefix cache queries, in terms of number of queried tokens.',
    s.prefixCacheQueries,
  );
  metric(
    'vllm:prefix_cache_hits_total',
    'counter',
    'Prefix cache hits, in terms of number of cached tokens.',
    s.prefixCacheHits,
  );
  metric(
    'vllm:prompt_tokens_total',
    'counter',
    'Number of prefill tokens processed.',
    s.promptTokens,
  );
  metric(
    'vllm:generation_tokens_total',
    'counter',
    'Number of generation tokens processed.',
    s.generationTokens,
  );
  out.push(
    '# HELP vllm:request_success_total Count of successfully processed requests.',
    '# TYPE vllm:request_success_total counter',
  );
  for (const [reason, n] of m.finished) {
    out.push(
      `vllm:request_success_total{finished_reason="${escapeLabel(reason)}",${label}} ${formatValue(n)}`,
    );
  }
  histogram(
    'vllm:time_to_first_token_seconds',
    'Histogram of time to first token in seconds.',
    m.ttft,
  );
  histogram(
    'vllm:e2e_request_latency_seconds',
    'Histogram of e2e request latency in seconds.',
    m.e2e,
  );
  return out.join('\n') + '\n';
}
