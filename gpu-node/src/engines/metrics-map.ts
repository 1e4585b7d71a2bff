// Maps each engine's own metric names onto EngineMetrics, the one set the gateway routes
// on. Engines rename metrics between releases (vLLM's gpu_cache_usage_perc became
// kv_cache_usage_perc), so each figure lists every name known for it, newest first.
import type { EngineMetrics } from '../../../schema/contracts.ts';
import type { Sample } from './prometheus.ts';

type Figure = Exclude<keyof EngineMetrics, 'prefix_cache_hit_rate'>;

// How samples of one name (several label sets: models, ranks) combine into one figure.
type Combine = 'sum' | 'max';

interface Source {
  name: string;
  combine: Combine;
}

const sum = (name: string): Source => ({ name, combine: 'sum' });
const max = (name: string): Source => ({ name, combine: 'max' });

export const METRIC_SOURCES: Record<Figure, Source[]> = {
  requests_running: [
    sum('vllm:num_requests_running'),
    sum('sglang:num_running_reqs'),
    sum('llamacpp:requests_processing'),
  ],
  requests_waiting: [
    sum('vllm:num_requests_waiting'),
    sum('sglang:num_queue_reqs'),
    sum('llamacpp:requests_deferred'),
  ],
  kv_cache_usage: [
    max('vllm:kv_cache_usage_perc'),
    max('vllm:gpu_cache_usage_perc'),
    max('sglang:token_usage'),
    max('llamacpp:kv_cache_usage_ratio'),
  ],
  prompt_tokens_total: [
    sum('vllm:prompt_tokens_total'),
    sum('sglang:prompt_tokens_total'),
    sum('llamacpp:prompt_tokens_total'),
  ],
  generation_tokens_total: [
    sum('vllm:generation_tokens_total'),
    sum('sglang:generation_tokens_total'),
    sum('llamacpp:tokens_predicted_total'),
  ],
};

// Prefix-cache hit rate: from hit and query counters (vLLM v1), else an engine's own rate
// gauge (SGLang, vLLM v0).
const PREFIX_COUNTERS = [
  { hits: 'vllm:prefix_cache_hits_total', queries: 'vllm:prefix_cache_queries_total' },
  { hits: 'vllm:prefix_cache_hits', queries: 'vllm:prefix_cache_queries' },
];
const PREFIX_RATE_GAUGES = ['sglang:cache_hit_rate', 'vllm:gpu_prefix_cache_hit_rate'];

export const KNOWN_METRIC_NAMES: ReadonlySet<string> = new Set([
  ...Object.values(METRIC_SOURCES).flatMap((sources) => sources.map((s) => s.name)),
  ...PREFIX_COUNTERS.flatMap((c) => [c.hits, c.queries]),
  ...PREFIX_RATE_GAUGES,
]);

function collect(samples: Sample[]): Map<string, number[]> {
  const byName = new Map<string, number[]>();
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    const values = byName.get(s.name);
    if (values) values.push(s.value);
    else byName.set(s.name, [s.value]);
  }
  return byName;
}

function combine(values: number[], how: Combine): number {
  return how === 'sum' ? values.reduce((a, b) => a + b, 0) : Math.max(...values);
}

const clamp01 = (n: number): number => Math.min(1, Math.max(0, n));

// Counters the hit rate is computed from, kept between scrapes so the rate covers the
// last interval rather than the engine's whole life.
export interface PrefixCounters {
  hits: number;
  queries: number;
}

export interface MappedMetrics {
  metrics: EngineMetrics;
  // Whether any known name was found; false means the router is blind to this engine.
  recognized: boolean;
  prefixCounters?: PrefixCounters;
}

export function mapEngineMetrics(samples: Sample[], previous?: PrefixCounters): MappedMetrics {
  const byName = collect(samples);
  const metrics: EngineMetrics = {};
  let recognized = false;

  for (const [figure, sources] of Object.entries(METRIC_SOURCES) as [Figure, Source[]][]) {
    for (const source of sources) {
      const values = byName.get(source.name);
      if (!values?.length) continue;
      const value = Math.max(0, combine(values, source.combine));
      metrics[figure] = figure === 'kv_cache_usage' ? clamp01(value) : value;
      recognized = true;
      break;
    }
  }

  let prefixCounters: PrefixCounters | undefined;
  for (const names of PREFIX_COUNTERS) {
    const hits = byName.get(names.hits);
    const queries = byName.get(names.queries);
    if (!hits?.length || !queries?.length) continue;
    recognized = true;
    prefixCounters = { hits: combine(hits, 'sum'), queries: combine(queries, 'sum') };
    // A counter that went down means the engine restarted: use its totals alone.
    const base =
      previous && previous.queries <= prefixCounters.queries && previous.hits <= prefixCounters.hits
        ? previous
        : { hits: 0, queries: 0 };
    const dq = prefixCounters.queries - base.queries;
    if (dq > 0) metrics.prefix_cache_hit_rate = clamp01((prefixCounters.hits - base.hits) / dq);
    break;
  }
  if (!prefixCounters) {
    for (const name of PREFIX_RATE_GAUGES) {
      const values = byName.get(name);
      if (!values?.length) continue;
      recognized = true;
      metrics.prefix_cache_hit_rate = clamp01(combine(values, 'max'));
      break;
    }
  }

  return prefixCounters ? { metrics, recognized, prefixCounters } : { metrics, recognized };
}
