// Overview: the fleet at a glance and the gateway's traffic over time (GET /stats):
// requests and errors per second, tokens per second, time to first token p50 and p99.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Deployment, List, Node, UsageStats } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { Chart } from '../chart.ts';
import { fmtNumber } from '../format.ts';
import { usePoll } from '../hooks.ts';

// Spans the charts offer, with a bucket that keeps each well under the API's 720 buckets.
const SPANS = {
  '15m': { ms: 15 * 60_000, bucketS: 10 },
  '1h': { ms: 3600_000, bucketS: 30 },
  '6h': { ms: 6 * 3600_000, bucketS: 120 },
  '24h': { ms: 24 * 3600_000, bucketS: 600 },
} as const;
type Span = keyof typeof SPANS;

export function OverviewPage() {
  const [span, setSpan] = useState<Span>('1h');
  const { ms, bucketS } = SPANS[span];
  const stats = usePoll(
    () => api<UsageStats>('GET', `/stats?since=${Date.now() - ms}&bucket=${bucketS}`),
    10_000,
    [span],
  );
  const fleet = usePoll(
    () =>
      Promise.all([api<List<Node>>('GET', '/nodes'), api<List<Deployment>>('GET', '/deployments')]),
    10_000,
  );

  const buckets = stats.data?.data ?? [];
  const x = buckets.map((b) => b.start_ms / 1000);
  const [nodes, deployments] = fleet.data ?? [undefined, undefined];
  const online = nodes?.data.filter((n) => n.status === 'online').length;
  const instances = deployments?.data.flatMap((d) => d.instances) ?? [];
  const ready = instances.filter((i) => i.state === 'ready').length;
  const requests = buckets.reduce((sum, b) => sum + b.requests, 0);
  const errors = buckets.reduce((sum, b) => sum + b.errors, 0);

  return html`<section>
    <div class="tiles">
      <div class="tile">
        <b>${fmtNumber(online)}</b> / ${fmtNumber(nodes?.data.length)} nodes online
      </div>
      <div class="tile"><b>${ready}</b> / ${instances.length} instances ready</div>
      <div class="tile"><b>${fmtNumber(requests)}</b> requests in ${span}</div>
      <div class="tile"><b>${fmtNumber(errors)}</b> errors in ${span}</div>
    </div>
    <div class="toolbar">
      ${Object.keys(SPANS).map(
        (s) =>
          html`<button class=${s === span ? 'on' : ''} onClick=${() => setSpan(s as Span)}>
            ${s}
          </button>`,
      )}
      <span class="muted">buckets of ${bucketS} s, refreshed every 10 s</span>
    </div>
    ${stats.error && html`<p class="error">${stats.error}</p>`}
    <div class="charts">
      <${Chart}
        id="chart-requests"
        title="Requests per second"
        unit="req/s"
        x=${x}
        series=${[
          { label: 'requests/s', color: '#2563eb', values: buckets.map((b) => b.requests_per_s) },
          { label: 'errors/s', color: '#dc2626', values: buckets.map((b) => b.errors_per_s) },
        ]}
      />
      <${Chart}
        id="chart-tokens"
        title="Tokens per second"
        unit="tok/s"
        x=${x}
        series=${[{ label: 'tokens/s', color: '#059669', values: buckets.map((b) => b.tokens_per_s) }]}
      />
      <${Chart}
        id="chart-ttft"
        title="Time to first token"
        unit="ms"
        x=${x}
        series=${[
          { label: 'p50', color: '#7c3aed', values: buckets.map((b) => b.ttft_p50_ms) },
          { label: 'p99', color: '#d97706', values: buckets.map((b) => b.ttft_p99_ms) },
        ]}
      />
    </div>
  </section>`;
}
