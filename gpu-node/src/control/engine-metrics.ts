// Reads one engine's Prometheus metrics at most once per interval and keeps what the
// heartbeat reports (load, KV-cache use, prefix-cache hit rate).
import type { EngineMetrics } from '../../../schema/contracts.ts';
import type { PrefixCounters } from '../engines/metrics-map.ts';
import { scrapeMetrics } from '../engines/probe.ts';
import type { EngineEndpoint } from '../recipes/types.ts';

export class EngineMetricsReader {
  // The last figures read; undefined until the first scrape and after the engine exits.
  latest: EngineMetrics | undefined;
  private prefixCounters: PrefixCounters | undefined;
  private lastScrapeAt = 0;
  private warnedUnknown = false;

  constructor(
    private readonly intervalMs: number,
    // Called once when the engine's metrics have none of the names this daemon knows.
    private readonly onUnrecognized: (metricsUrl: string) => void,
  ) {}

  async read(endpoint: EngineEndpoint, now: number): Promise<void> {
    if (!endpoint.metricsUrl || now - this.lastScrapeAt < this.intervalMs) return;
    this.lastScrapeAt = now;
    const result = await scrapeMetrics(endpoint.metricsUrl, this.prefixCounters, endpoint.headers);
    if (!result) return;
    // No prefix-cache lookups since the last scrape: the last rate still describes the cache.
    const lastRate = this.latest?.prefix_cache_hit_rate;
    if (result.prefixCounters && result.metrics.prefix_cache_hit_rate === undefined) {
      if (lastRate !== undefined) result.metrics.prefix_cache_hit_rate = lastRate;
    }
    this.latest = result.metrics;
    this.prefixCounters = result.prefixCounters;
    if (!result.recognized && !this.warnedUnknown) {
      this.warnedUnknown = true;
      this.onUnrecognized(endpoint.metricsUrl);
    }
  }

  // A restarted engine starts its counters from zero.
  forget(): void {
    this.latest = undefined;
    this.prefixCounters = undefined;
  }
}
