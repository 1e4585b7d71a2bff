// The routing benchmark's report: a Markdown table per run, the issue's targets checked as
// ratios, and an SVG chart (TTFT p50, TTFT p99 and prefix-cache hit rate per workload, one
// bar per policy). Pure: results in, text out.
import type { RoutingPolicy } from '../../schema/contracts.ts';
import { renderChart, type Panel } from './chart.ts';
import type { WorkloadName } from './routing-workloads.ts';
import type { Summary } from './stats.ts';

export const POLICIES: RoutingPolicy[] = ['round_robin', 'least_load', 'prefix'];
export const WORKLOAD_LABELS: Record<WorkloadName, string> = {
  A: 'A shared prefixes',
  B: 'B unique prompts',
  C: 'C one sick instance',
};

export interface RoutingRun {
  workload: WorkloadName;
  policy: RoutingPolicy;
  clients: number;
  requests: number;
  failed: number;
  ttftMs: Summary;
  rps: number;
  // Prompt tokens served from the simulators' prefix caches / prompt tokens, in the run.
  hitRate: number | null;
  // Requests each simulator finished in the run, in instance order.
  perInstance: number[];
  errors: string[];
}

export interface RoutingResults {
  startedAt: string;
  commit: string | null;
  machine: { cpus: number; cpuModel: string; loadAvgAtStart: number; node: string };
  settings: Record<string, unknown>;
  runs: RoutingRun[];
}

export interface TargetCheck {
  name: string;
  ratio: number | null;
  needed: string;
  met: boolean | null;
}

const find = (runs: readonly RoutingRun[], w: WorkloadName, p: RoutingPolicy) =>
  runs.find((r) => r.workload === w && r.policy === p);

const ratio = (a: number | undefined, b: number | undefined): number | null =>
  a !== undefined && b !== undefined && Number.isFinite(a) && Number.isFinite(b) && b > 0
    ? a / b
    : null;

// The issue's targets: A prefix >= 2x lower TTFT p50 than round_robin with a higher hit
// rate; B prefix within 10% of least_load; C least_load and prefix >= 2x lower TTFT p99
// than round_robin.
export function checkTargets(runs: readonly RoutingRun[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  const aRr = find(runs, 'A', 'round_robin');
  const aPx = find(runs, 'A', 'prefix');
  const a = ratio(aRr?.ttftMs.p50, aPx?.ttftMs.p50);
  const hitHigher = aRr?.hitRate != null && aPx?.hitRate != null ? aPx.hitRate > aRr.hitRate : null;
  out.push({
    name: 'A: TTFT p50 round_robin / prefix, and a higher hit rate',
    ratio: a,
    needed: '>= 2, hit rate higher',
    met: a === null || hitHigher === null ? null : a >= 2 && hitHigher,
  });
  const bLl = find(runs, 'B', 'least_load');
  const bPx = find(runs, 'B', 'prefix');
  const b = ratio(bPx?.ttftMs.p50, bLl?.ttftMs.p50);
  out.push({
    name: 'B: TTFT p50 prefix / least_load',
    ratio: b,
    needed: '<= 1.10',
    met: b === null ? null : b <= 1.1,
  });
  const cRr = find(runs, 'C', 'round_robin');
  for (const policy of ['least_load', 'prefix'] as const) {
    const c = ratio(cRr?.ttftMs.p99, find(runs, 'C', policy)?.ttftMs.p99);
    out.push({
      name: `C: TTFT p99 round_robin / ${policy}`,
      ratio: c,
      needed: '>= 2',
      met: c === null ? null : c >= 2,
    });
  }
  return out;
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : '-');
const pct = (n: number | null) => (n === null ? '-' : `${(n * 100).toFixed(0)}%`);

export function renderRoutingMarkdown(results: RoutingResults): string {
  const lines = [
    `# Routing benchmark (${results.startedAt}${results.commit ? `, ${results.commit}` : ''})`,
    '',
    `Machine: ${results.machine.cpus} CPUs (${results.machine.cpuModel}), load average ${results.machine.loadAvgAtStart.toFixed(2)} at start, Node ${results.machine.node}.`,
    '',
    `Settings: ${Object.entries(results.settings)
      .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
      .join('; ')}.`,
    '',
    '| workload | policy | requests | errors | TTFT p50 ms | TTFT p99 ms | req/s | prefix-cache hits | requests per instance |',
    '|---|---|---:|---:|---:|---:|---:|---:|---|',
  ];
  for (const r of results.runs) {
    lines.push(
      `| ${WORKLOAD_LABELS[r.workload]} | ${r.policy} | ${r.requests} | ${r.failed} | ${ms(r.ttftMs.p50)} | ${ms(r.ttftMs.p99)} | ${r.rps.toFixed(1)} | ${pct(r.hitRate)} | ${r.perInstance.join(' / ')} |`,
    );
  }
  lines.push('', '| target | measured | needed | met |', '|---|---:|---|---|');
  for (const t of checkTargets(results.runs)) {
    const met = t.met === null ? 'not measured' : t.met ? 'yes' : 'no';
    lines.push(
      `| ${t.name} | ${t.ratio === null ? '-' : t.ratio.toFixed(2)} | ${t.needed} | ${met} |`,
    );
  }
  const errors = results.runs.flatMap((r) =>
    r.errors.map((e) => `${r.workload}/${r.policy}: ${e}`),
  );
  if (errors.length > 0) lines.push('', 'Errors seen:', ...errors.map((e) => `- ${e}`));
  return lines.join('\n');
}

const COLORS: Record<RoutingPolicy, string> = {
  round_robin: '#4e79a7',
  least_load: '#f28e2b',
  prefix: '#59a14f',
};

export function routingChart(results: RoutingResults): string {
  const workloads = [...new Set(results.runs.map((r) => r.workload))];
  const categories = workloads.map((w) => WORKLOAD_LABELS[w]);
  const panel = (title: string, value: (r: RoutingRun) => number | null): Panel => ({
    title,
    categories,
    series: POLICIES.map((policy) => ({
      name: policy,
      color: COLORS[policy],
      values: workloads.map((w) => {
        const run = find(results.runs, w, policy);
        return run ? value(run) : null;
      }),
    })),
  });
  return renderChart('fleetgate routing: policies per workload', [
    panel('TTFT p50 (ms)', (r) => r.ttftMs.p50),
    panel('TTFT p99 (ms)', (r) => r.ttftMs.p99),
    panel('prefix-cache hit rate (%)', (r) => (r.hitRate === null ? null : r.hitRate * 100)),
  ]);
}
