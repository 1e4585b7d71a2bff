// Usage: requests, errors, tokens, spend and latencies by key, model, node or day over a
// window (GET /usage), as a bar chart and a table, downloadable as CSV.
import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { ApiKey, List, Node, UsageGroup, UsageSummary } from '../../../../schema/admin.ts';
import { api } from '../api.ts';
import { Chart } from '../chart.ts';
import { fmtNumber, usageCsv } from '../format.ts';
import { usePoll } from '../hooks.ts';

const GROUPS: UsageGroup[] = ['model', 'key', 'node', 'day'];
const WINDOWS = { '24h': 86_400, '7d': 7 * 86_400, '30d': 30 * 86_400 } as const;
type Window = keyof typeof WINDOWS;
const METRICS = {
  requests: 'Requests',
  total_tokens: 'Tokens',
  spend_usd: 'Spend (USD)',
  errors: 'Errors',
} as const;
type Metric = keyof typeof METRICS;

function download(name: string, text: string) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function UsagePage() {
  const [group, setGroup] = useState<UsageGroup>('model');
  const [window, setWindow] = useState<Window>('24h');
  const [metric, setMetric] = useState<Metric>('requests');
  const usage = usePoll(
    () => {
      const to = Math.floor(Date.now() / 1000);
      return api<UsageSummary>(
        'GET',
        `/usage?group_by=${group}&from=${to - WINDOWS[window]}&to=${to}`,
      );
    },
    30_000,
    [group, window],
  );
  // Names for ids: keys and nodes are shown by name where they still exist.
  const names = usePoll(
    () => Promise.all([api<List<ApiKey>>('GET', '/keys'), api<List<Node>>('GET', '/nodes')]),
    60_000,
  );
  const [keys, nodes] = names.data ?? [undefined, undefined];
  const nameOf = (id: string | null) => {
    if (id === null) return '(none)';
    if (group === 'key') return keys?.data.find((k) => k.id === id)?.name ?? id;
    if (group === 'node') return nodes?.data.find((n) => n.id === id)?.name ?? id;
    return id;
  };
  const rows = usage.data?.data ?? [];
  const labels = rows.map((r) => nameOf(r.group));

  return html`<section>
    <div class="toolbar">
      <label
        >By
        <select
          id="usage-group"
          value=${group}
          onChange=${(e: Event) => setGroup((e.currentTarget as HTMLSelectElement).value as UsageGroup)}
        >
          ${GROUPS.map((g) => html`<option value=${g}>${g}</option>`)}
        </select></label
      >
      <label
        >Window
        <select
          value=${window}
          onChange=${(e: Event) => setWindow((e.currentTarget as HTMLSelectElement).value as Window)}
        >
          ${Object.keys(WINDOWS).map((w) => html`<option value=${w}>last ${w}</option>`)}
        </select></label
      >
      <label
        >Chart
        <select
          value=${metric}
          onChange=${(e: Event) => setMetric((e.currentTarget as HTMLSelectElement).value as Metric)}
        >
          ${Object.entries(METRICS).map(([m, label]) => html`<option value=${m}>${label}</option>`)}
        </select></label
      >
      <button
        id="usage-csv"
        disabled=${rows.length === 0}
        onClick=${() =>
          download(
            `fleetgate-usage-by-${group}-${window}.csv`,
            usageCsv(
              rows.map((r) => ({ ...r, group: nameOf(r.group) })),
              group,
            ),
          )}
      >
        Download CSV
      </button>
    </div>
    ${usage.error && html`<p class="error">${usage.error}</p>`}
    <${Chart}
      id="chart-usage"
      title=${`${METRICS[metric]} by ${group}, last ${window}`}
      x=${rows.map((_, i) => i)}
      labels=${labels}
      series=${[{ label: METRICS[metric], color: '#2563eb', values: rows.map((r) => r[metric]) }]}
    />
    <table class="list" id="usage-table">
      <thead>
        <tr>
          <th>${group}</th>
          <th>Requests</th>
          <th>Errors</th>
          <th>Prompt tok.</th>
          <th>Completion tok.</th>
          <th>Spend USD</th>
          <th>Avg latency</th>
          <th>Avg TTFT</th>
        </tr>
      </thead>
      <tbody>
        ${rows.map(
          (r, i) =>
            html`<tr>
              <td>${labels[i]}</td>
              <td>${fmtNumber(r.requests)}</td>
              <td>${fmtNumber(r.errors)}</td>
              <td>${fmtNumber(r.prompt_tokens)}</td>
              <td>${fmtNumber(r.completion_tokens)}</td>
              <td>${fmtNumber(r.spend_usd, 4)}</td>
              <td>${r.avg_latency_ms === null ? '–' : `${fmtNumber(r.avg_latency_ms)} ms`}</td>
              <td>${r.avg_ttft_ms === null ? '–' : `${fmtNumber(r.avg_ttft_ms)} ms`}</td>
            </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}
