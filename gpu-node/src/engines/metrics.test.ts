import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EngineMetricsSchema } from '../../../schema/contracts.ts';
import { mapEngineMetrics } from './metrics-map.ts';
import { parsePrometheusText } from './prometheus.ts';

const fixture = async (name: string) =>
  parsePrometheusText(await readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));

describe('parsePrometheusText', () => {
  it('reads names, labels (with escapes), values and timestamps; skips comments', () => {
    const samples = parsePrometheusText(
      [
        '# HELP a_total A counter.',
        '# TYPE a_total counter',
        'a_total 3',
        'b{x="1",path="C:\\\\dir",q="say \\"hi\\"",} 2.5e+01 1712345678000',
        'c{le="+Inf"} +Inf',
        'ns:name_with:colons{a="b"} NaN',
        'broken{x="1" 7',
        'novalue',
      ].join('\n'),
    );
    expect(samples.map((s) => s.name)).toEqual(['a_total', 'b', 'c', 'ns:name_with:colons']);
    expect(samples[1]).toEqual({
      name: 'b',
      labels: { x: '1', path: 'C:\\dir', q: 'say "hi"' },
      value: 25,
    });
    expect(samples[2]?.value).toBe(Infinity);
    expect(samples[3]?.value).toBeNaN();
  });
});

describe('mapEngineMetrics', () => {
  it('maps vLLM v1 (kv_cache_usage_perc, prefix cache counters)', async () => {
    const { metrics, recognized, prefixCounters } = mapEngineMetrics(await fixture('vllm-v1.prom'));
    expect(recognized).toBe(true);
    expect(metrics).toEqual({
      requests_running: 7,
      requests_waiting: 2,
      kv_cache_usage: 0.4213,
      prefix_cache_hit_rate: 0.25,
      prompt_tokens_total: 182934,
      generation_tokens_total: 51234,
    });
    expect(prefixCounters).toEqual({ hits: 5000, queries: 20000 });
    expect(EngineMetricsSchema.safeParse(metrics).success).toBe(true);
  });

  it('computes the prefix-cache hit rate over the interval since the previous scrape', async () => {
    const samples = await fixture('vllm-v1.prom');
    const { metrics } = mapEngineMetrics(samples, { hits: 4000, queries: 18000 });
    expect(metrics.prefix_cache_hit_rate).toBe(0.5);
    // Counters that went down: the engine restarted; its totals are the interval.
    const restarted = mapEngineMetrics(samples, { hits: 9000, queries: 90000 });
    expect(restarted.metrics.prefix_cache_hit_rate).toBe(0.25);
  });

  it('maps vLLM v0 (gpu_cache_usage_perc, hit-rate gauge)', async () => {
    const { metrics, recognized } = mapEngineMetrics(await fixture('vllm-v0.prom'));
    expect(recognized).toBe(true);
    expect(metrics).toEqual({
      requests_running: 3,
      requests_waiting: 0,
      kv_cache_usage: 0.87,
      prefix_cache_hit_rate: 0.35,
      prompt_tokens_total: 9021,
      generation_tokens_total: 4410,
    });
  });

  it('maps SGLang', async () => {
    const { metrics } = mapEngineMetrics(await fixture('sglang.prom'));
    expect(metrics).toEqual({
      requests_running: 12,
      requests_waiting: 4,
      kv_cache_usage: 0.61,
      prefix_cache_hit_rate: 0.72,
      prompt_tokens_total: 3.4e6,
      generation_tokens_total: 870211,
    });
  });

  it('maps llama.cpp server', async () => {
    const { metrics } = mapEngineMetrics(await fixture('llamacpp.prom'));
    expect(metrics).toEqual({
      requests_running: 2,
      requests_waiting: 1,
      kv_cache_usage: 0.125,
      prompt_tokens_total: 4821,
      generation_tokens_total: 1290,
    });
  });

  it('says when none of the known names is there (a renamed metric must not pass silently)', async () => {
    const { metrics, recognized } = mapEngineMetrics(await fixture('unknown-engine.prom'));
    expect(recognized).toBe(false);
    expect(metrics).toEqual({});
  });

  it('sums load over label sets (data-parallel ranks) and takes the fullest KV cache', () => {
    const samples = parsePrometheusText(
      [
        'vllm:num_requests_running{engine="0"} 3',
        'vllm:num_requests_running{engine="1"} 4',
        'vllm:kv_cache_usage_perc{engine="0"} 0.2',
        'vllm:kv_cache_usage_perc{engine="1"} 0.9',
        'vllm:kv_cache_usage_perc{engine="2"} 1.7',
      ].join('\n'),
    );
    const { metrics } = mapEngineMetrics(samples);
    expect(metrics.requests_running).toBe(7);
    expect(metrics.kv_cache_usage).toBe(1);
  });
});
