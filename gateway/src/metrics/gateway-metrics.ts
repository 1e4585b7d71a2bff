// The gateway's Prometheus metrics (GET /metrics). Request figures are observed once per
// request where the limit gate finishes it (limits/gate.ts: the one settle point every
// proxied request passes, after its stream has ended), never per chunk. Gauges of the
// fleet (nodes, instances) are read from the database when scraped, and the usage sink's
// figures from the sink.
//
// Labels stay bounded: model names (at most DEFAULT_MAX_SERIES label sets per metric, the
// rest as `other`), endpoint paths and status codes (fixed sets), limit names (fixed). A
// key_id label is added only when the operator turns it on (FLEETGATE_METRICS_KEY_LABEL).
import { INSTANCE_STATES } from '../../../schema/contracts.ts';
import type { UsageEvent, UsageSinkStats } from '../types.ts';
import { Counter, DEFAULT_MAX_SERIES, Histogram, renderGauge } from './registry.ts';

// Seconds; from a fast first token to a long generation.
export const TTFT_BUCKETS_S = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
export const LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export interface FleetFigures {
  nodes: { online: number; offline: number };
  instances: Map<string, number>;
  usage?: UsageSinkStats;
}

export class GatewayMetrics {
  private readonly withKey: boolean;
  private readonly requests: Counter;
  private readonly errors: Counter;
  private readonly latency: Histogram;
  private readonly ttft: Histogram;
  private readonly tokens: Counter;
  private readonly rejections: Counter;

  constructor(opts: { keyLabel?: boolean; maxSeries?: number } = {}) {
    this.withKey = opts.keyLabel === true;
    const max = opts.maxSeries ?? DEFAULT_MAX_SERIES;
    const byModel = this.withKey ? ['model', 'key_id'] : ['model'];
    this.requests = new Counter(
      'fleetgate_requests_total',
      'Requests answered through /v1, by model, endpoint and HTTP status.',
      [...byModel, 'endpoint', 'status'],
      max,
    );
    this.errors = new Counter(
      'fleetgate_request_errors_total',
      'Requests that failed (error: refused or failed in the gateway; upstream_error: the node or engine failed; client_aborted: the client left).',
      [...byModel, 'outcome'],
      max,
    );
    this.latency = new Histogram(
      'fleetgate_request_duration_seconds',
      'Time from the request to the end of its answer.',
      ['model'],
      max,
      LATENCY_BUCKETS_S,
    );
    this.ttft = new Histogram(
      'fleetgate_time_to_first_token_seconds',
      'Time from the request to the first content token (streamed answers).',
      ['model'],
      max,
      TTFT_BUCKETS_S,
    );
    this.tokens = new Counter(
      'fleetgate_tokens_total',
      'Tokens counted for finished requests, by model and type (prompt, completion).',
      [...byModel, 'type'],
      max,
    );
    this.rejections = new Counter(
      'fleetgate_limit_rejections_total',
      'Requests refused by a per-key limit, by limit.',
      ['limit'],
      max,
    );
  }

  // One finished request (its usage event), with the key it used.
  finished(event: UsageEvent): void {
    const model = event.model ?? '';
    const base: Record<string, string> = { model };
    if (this.withKey) base.key_id = event.keyId ?? '';
    this.requests.inc({ ...base, endpoint: event.endpoint, status: String(event.status) });
    if (event.outcome !== 'ok') this.errors.inc({ ...base, outcome: event.outcome });
    this.latency.observe({ model }, event.latencyMs / 1000);
    if (event.ttftMs !== null) this.ttft.observe({ model }, event.ttftMs / 1000);
    this.tokens.inc({ ...base, type: 'prompt' }, event.promptTokens);
    this.tokens.inc({ ...base, type: 'completion' }, event.completionTokens);
  }

  // A request refused by a limit (requests_per_minute, tokens_per_minute, ...).
  refused(limit: string): void {
    this.rejections.inc({ limit });
  }

  render(fleet: FleetFigures): string {
    const parts = [
      this.requests.render(),
      this.errors.render(),
      this.latency.render(),
      this.ttft.render(),
      this.tokens.render(),
      this.rejections.render(),
      renderGauge('fleetgate_nodes', 'Registered nodes by liveness.', 'state', [
        ['online', fleet.nodes.online],
        ['offline', fleet.nodes.offline],
      ]),
      renderGauge(
        'fleetgate_instances',
        'Deployment instances by the state their node last reported.',
        'state',
        INSTANCE_STATES.map((s) => [s, fleet.instances.get(s) ?? 0] as const),
      ),
    ];
    if (fleet.usage) {
      parts.push(
        renderGauge(
          'fleetgate_usage_events_pending',
          'Usage events not yet written to the database.',
          undefined,
          fleet.usage.pending,
        ),
        renderGauge(
          'fleetgate_usage_events_dropped_total',
          'Usage events lost since start (memory full while the database was down).',
          undefined,
          fleet.usage.dropped,
          'counter',
        ),
        renderGauge(
          'fleetgate_usage_events_unspooled_total',
          'Usage events that could not be journaled to the spool since start.',
          undefined,
          fleet.usage.unspooled,
          'counter',
        ),
      );
    }
    return `${parts.join('\n')}\n`;
  }
}
