// Health checks and metric scrapes against one engine, each bounded by a timeout.
import type { EngineMetrics } from '../../../schema/contracts.ts';
import { mapEngineMetrics, type PrefixCounters } from './metrics-map.ts';
import { parsePrometheusText } from './prometheus.ts';

export type HealthResult = { ok: true } | { ok: false; reason: string };

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found (DNS lookup failed)',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_SOCKET: 'connection closed',
};

// One short reason for a failed fetch, e.g. "connection refused (ECONNREFUSED)".
export function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'timed out';
    const cause = (err as { cause?: unknown }).cause;
    if (cause && typeof cause === 'object') {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === 'string') {
        const text = NETWORK_ERRORS[code];
        return text ? `${text} (${code})` : code;
      }
      if (cause instanceof Error) return cause.message;
    }
    return err.message;
  }
  return String(err);
}

export async function probeHealth(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<HealthResult> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.status === 200 ? { ok: true } : { ok: false, reason: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, reason: describeFetchError(err) };
  }
}

const MAX_METRICS_BYTES = 8 * 1024 * 1024;

export interface ScrapeResult {
  metrics: EngineMetrics;
  recognized: boolean;
  prefixCounters?: PrefixCounters;
}

// Reads and maps one engine's metrics; undefined when the engine did not answer.
export async function scrapeMetrics(
  url: string,
  previous: PrefixCounters | undefined,
  headers: Record<string, string> = {},
  timeoutMs = 3000,
): Promise<ScrapeResult | undefined> {
  try {
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return undefined;
    }
    const length = Number(res.headers.get('content-length') ?? 0);
    if (length > MAX_METRICS_BYTES) {
      await res.body?.cancel();
      return undefined;
    }
    const text = await res.text();
    if (text.length > MAX_METRICS_BYTES) return undefined;
    return mapEngineMetrics(parsePrometheusText(text), previous);
  } catch {
    return undefined;
  }
}
