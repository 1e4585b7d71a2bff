// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the
// text exposition format (0.0.4). Label values are bounded: a metric keeps at most
// maxSeries label sets, and any further set is counted under the value `other`, so no
// client-chosen string (a model name, say) can grow the gateway's memory or a scrape.
// Pure: no I/O, unit-tested without a server.

export const DEFAULT_MAX_SERIES = 500;
export const OTHER = 'other';

type Labels = Record<string, string>;

function escapeLabel(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function formatNumber(n: number): string {
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return Number.isNaN(n) ? 'NaN' : String(n);
}

abstract class Metric<S> {
  protected readonly series = new Map<string, { values: string[]; state: S }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    private readonly maxSeries: number,
  ) {}

  protected abstract fresh(): S;

  protected stateFor(labels: Labels): S {
    let values = this.labelNames.map((n) => labels[n] ?? '');
    let key = JSON.stringify(values);
    let entry = this.series.get(key);
    if (!entry && this.series.size >= this.maxSeries) {
      // Full: the overflow shares one series whose every label says `other`.
      values = this.labelNames.map(() => OTHER);
      key = JSON.stringify(values);
      entry = this.series.get(key);
    }
    if (!entry) {
      entry = { values, state: this.fresh() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  abstract render(): string;
}

export class Counter extends Metric<{ value: number }> {
  protected fresh() {
    return { value: 0 };
  }
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) return;
    this.stateFor(labels).value += by;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { values, state } of this.series.values()) {
      lines.push(`${this.name}${labelText(this.labelNames, values)} ${formatNumber(state.value)}`);
    }
    return lines.join('\n');
  }
}

export class Histogram extends Metric<{ counts: number[]; sum: number; count: number }> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    maxSeries: number,
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames, maxSeries);
  }
  protected fresh() {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }
  observe(labels: Labels, value: number): void {
    if (!Number.isFinite(value)) return;
    const state = this.stateFor(labels);
    this.buckets.forEach((upper, i) => {
      if (value <= upper) state.counts[i] = (state.counts[i] ?? 0) + 1;
    });
    state.sum += value;
    state.count += 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const { values, state } of this.series.values()) {
      this.buckets.forEach((upper, i) => {
        const le = `le="${formatNumber(upper)}"`;
        lines.push(
          `${this.name}_bucket${labelText(this.labelNames, values, le)} ${state.counts[i] ?? 0}`,
        );
      });
      lines.push(
        `${this.name}_bucket${labelText(this.labelNames, values, 'le="+Inf"')} ${state.count}`,
      );
      lines.push(
        `${this.name}_sum${labelText(this.labelNames, values)} ${formatNumber(state.sum)}`,
      );
      lines.push(`${this.name}_count${labelText(this.labelNames, values)} ${state.count}`);
    }
    return lines.join('\n');
  }
}

// A value read when scraped (from the database or the usage sink): a gauge, or a counter
// that something else keeps.
export function renderGauge(
  name: string,
  help: string,
  labelName: string | undefined,
  values: readonly (readonly [string, number])[] | number,
  type: 'gauge' | 'counter' = 'gauge',
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  if (typeof values === 'number') lines.push(`${name} ${formatNumber(values)}`);
  else {
    for (const [label, value] of values) {
      lines.push(`${name}{${labelName ?? 'label'}="${escapeLabel(label)}"} ${formatNumber(value)}`);
    }
  }
  return lines.join('\n');
}
