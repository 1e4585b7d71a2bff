// Turns a run's results into Markdown: the tables printed by `npm run bench` and written to
// results.md. Pure functions of BenchResults.
import { PATH_LABELS, type BenchResults, type LevelResult, type PathName } from './results.ts';

// The issue's targets, reported (never asserted): at 64 concurrent streams, the gateway +
// daemon add under 2 ms (p50) and 10 ms (p99) to the time to first token, and keep at least
// 80% of the direct path's throughput.
export const TARGET_CONCURRENCY = 64;
export const TARGET_TTFT_P50_MS = 2;
export const TARGET_TTFT_P99_MS = 10;
export const TARGET_RPS_RATIO = 0.8;

const DASH = '–';

export function fmt(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? DASH
    : value.toFixed(digits);
}

function signed(value: number | null | undefined, digits = 1): string {
  const text = fmt(value, digits);
  return value !== null && value !== undefined && value > 0 ? `+${text}` : text;
}

// A GitHub-flavoured Markdown table, padded so it also reads well in a terminal.
export function markdownTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly ('l' | 'r')[] = [],
): string {
  const widths = header.map((h, i) =>
    Math.max(3, h.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const cell = (text: string, i: number) =>
    align[i] === 'r' ? text.padStart(widths[i] ?? 0) : text.padEnd(widths[i] ?? 0);
  const line = (cells: readonly string[]) =>
    `| ${widths.map((_, i) => cell(cells[i] ?? '', i)).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => (align[i] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export interface Comparison {
  level: LevelResult;
  direct: LevelResult;
  ttftP50DeltaMs: number | null;
  ttftP99DeltaMs: number | null;
  ttftP50Ratio: number | null;
  ttftP99Ratio: number | null;
  latencyP50DeltaMs: number;
  latencyP99DeltaMs: number;
  latencyP50Ratio: number;
  rpsRatio: number;
}

const sameLevel = (a: LevelResult, b: LevelResult) =>
  a.stream === b.stream && a.concurrency === b.concurrency;

// Each level of paths (b)-(d) against the same level of the direct path.
export function compareToDirect(levels: readonly LevelResult[]): Comparison[] {
  const comparisons: Comparison[] = [];
  for (const level of levels) {
    if (level.path === 'direct') continue;
    const direct = levels.find((l) => l.path === 'direct' && sameLevel(l, level));
    if (!direct) continue;
    const t = level.load.ttftMs;
    const d = direct.load.ttftMs;
    comparisons.push({
      level,
      direct,
      ttftP50DeltaMs: t && d ? t.p50 - d.p50 : null,
      ttftP99DeltaMs: t && d ? t.p99 - d.p99 : null,
      ttftP50Ratio: t && d ? t.p50 / d.p50 : null,
      ttftP99Ratio: t && d ? t.p99 / d.p99 : null,
      latencyP50DeltaMs: level.load.latencyMs.p50 - direct.load.latencyMs.p50,
      latencyP99DeltaMs: level.load.latencyMs.p99 - direct.load.latencyMs.p99,
      latencyP50Ratio: level.load.latencyMs.p50 / direct.load.latencyMs.p50,
      rpsRatio: direct.load.rps > 0 ? level.load.rps / direct.load.rps : Number.NaN,
    });
  }
  return comparisons;
}

export interface TargetCheck {
  path: PathName;
  what: string;
  measured: string;
  target: string;
  met: boolean;
}

export function checkTargets(levels: readonly LevelResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  for (const c of compareToDirect(levels)) {
    const { level } = c;
    if (level.path === 'node' || !level.stream || level.concurrency !== TARGET_CONCURRENCY) {
      continue;
    }
    const at = `${TARGET_CONCURRENCY} streams`;
    checks.push(
      {
        path: level.path,
        what: `added TTFT p50 at ${at}`,
        measured: `${signed(c.ttftP50DeltaMs, 2)} ms`,
        target: `< ${TARGET_TTFT_P50_MS} ms`,
        met: c.ttftP50DeltaMs !== null && c.ttftP50DeltaMs < TARGET_TTFT_P50_MS,
      },
      {
        path: level.path,
        what: `added TTFT p99 at ${at}`,
        measured: `${signed(c.ttftP99DeltaMs, 2)} ms`,
        target: `< ${TARGET_TTFT_P99_MS} ms`,
        met: c.ttftP99DeltaMs !== null && c.ttftP99DeltaMs < TARGET_TTFT_P99_MS,
      },
      {
        path: level.path,
        what: `throughput vs direct at ${at}`,
        measured: `${fmt(c.rpsRatio * 100, 0)}%`,
        target: `>= ${TARGET_RPS_RATIO * 100}%`,
        met: c.rpsRatio >= TARGET_RPS_RATIO,
      },
    );
  }
  return checks;
}

const mode = (l: LevelResult) => (l.stream ? 'stream' : 'non-stream');

function perThousand(l: LevelResult, role: string): string {
  const usage = l.processes[role];
  if (!usage || l.load.completed === 0) return DASH;
  return fmt((usage.cpuS / l.load.completed) * 1000, 2);
}

function peakMiB(l: LevelResult, role: string): string {
  const usage = l.processes[role];
  return usage ? fmt(usage.peakRssKb / 1024, 0) : DASH;
}

// About one RSS sample per second, as "0 s 180, 1 s 190, ...", to show a plateau or a climb.
export function rssTimeline(samples: readonly { tMs: number; rssKb: number }[]): string {
  const picked: string[] = [];
  let nextMs = 0;
  for (const sample of samples) {
    if (sample.tMs < nextMs) continue;
    picked.push(`${Math.round(sample.tMs / 1000)} s ${fmt(sample.rssKb / 1024, 0)}`);
    nextMs = (Math.floor(sample.tMs / 1000) + 1) * 1000;
  }
  return picked.join(', ');
}

export function renderMarkdown(results: BenchResults): string {
  const { settings: s, machine: m } = results;
  const out: string[] = [];
  out.push(`# fleetgate benchmark, ${results.startedAt}`);
  out.push('');
  out.push(
    `Machine: ${m.cpus} CPU cores (${m.cpuModel}), ${fmt(m.memoryGiB, 0)} GiB RAM, ${m.os}, Node.js ${m.node}. ` +
      `Everything (load generator, servers, simulator) shares these cores, over loopback. ` +
      `Load average at start: ${fmt(m.loadAvgAtStart, 2)}${results.commit ? `; commit ${results.commit}` : ''}.`,
  );
  out.push(
    `Simulator: time to first token ${s.ttftMs} ms, inter-token latency ${s.itlMs} ms, ` +
      `${s.maxTokens} tokens per answer, no jitter. Each level: ${s.warmupMs / 1000} s warm-up, ` +
      `${s.durationMs / 1000} s measured, closed loop (each client sends its next request when the last one ends).`,
  );
  out.push('');

  out.push('## Latency and throughput');
  out.push('');
  out.push(
    markdownTable(
      [
        'path',
        'mode',
        'clients',
        'req/s',
        'TTFT p50',
        'TTFT p99',
        'latency p50',
        'latency p99',
        'ok',
        'errors',
      ],
      results.levels.map((l) => [
        PATH_LABELS[l.path],
        mode(l),
        String(l.concurrency),
        fmt(l.load.rps, 0),
        fmt(l.load.ttftMs?.p50),
        fmt(l.load.ttftMs?.p99),
        fmt(l.load.latencyMs.p50),
        fmt(l.load.latencyMs.p99),
        String(l.load.completed),
        String(l.load.failed),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'Times in milliseconds, measured by the load generator (TTFT: first chunk with content).',
  );
  out.push('');

  const comparisons = compareToDirect(results.levels);
  if (comparisons.length) {
    out.push('## Overhead versus the direct path (a)');
    out.push('');
    out.push(
      markdownTable(
        [
          'path',
          'mode',
          'clients',
          'TTFT p50 +ms',
          'TTFT p99 +ms',
          'TTFT p50 ×',
          'latency p50 +ms',
          'latency p99 +ms',
          'req/s vs (a)',
        ],
        comparisons.map((c) => [
          PATH_LABELS[c.level.path],
          mode(c.level),
          String(c.level.concurrency),
          signed(c.ttftP50DeltaMs, 2),
          signed(c.ttftP99DeltaMs, 2),
          fmt(c.ttftP50Ratio, 3),
          signed(c.latencyP50DeltaMs, 2),
          signed(c.latencyP99DeltaMs, 2),
          `${fmt(c.rpsRatio * 100, 0)}%`,
        ]),
        ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
      ),
    );
    out.push('');
  }

  out.push('## CPU and memory');
  out.push('');
  out.push(
    markdownTable(
      [
        'path',
        'mode',
        'clients',
        'gateway CPU s/1k req',
        'daemon CPU s/1k req',
        'sim CPU s/1k req',
        'loadgen CPU s/1k req',
        'gateway peak RSS MiB',
        'daemon peak RSS MiB',
      ],
      results.levels.map((l) => [
        PATH_LABELS[l.path],
        mode(l),
        String(l.concurrency),
        perThousand(l, 'gateway'),
        perThousand(l, 'daemon'),
        perThousand(l, 'sim'),
        l.load.completed ? fmt((l.load.clientCpuS / l.load.completed) * 1000, 2) : DASH,
        peakMiB(l, 'gateway'),
        peakMiB(l, 'daemon'),
      ]),
      ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  out.push('');
  out.push(
    'CPU seconds (user + system, from /proc) used in the measured window per 1000 completed requests; ' +
      'peak RSS sampled every 100 ms in the window. The simulator runs as its own process and is not counted as the daemon.',
  );
  out.push('');

  if (results.memory) {
    const mem = results.memory;
    out.push('## Gateway memory under slow streams');
    out.push('');
    out.push(
      `${mem.concurrency} concurrent streams of ${mem.tokensPerStream} tokens at ${mem.itlMs} ms per token ` +
        `through ${PATH_LABELS[mem.path]} for ${mem.durationMs / 1000} s ` +
        `(${mem.completed} streams finished, ${mem.failed} failed): gateway RSS ` +
        `start ${fmt(mem.startKb / 1024)} MiB, peak ${fmt(mem.peakKb / 1024)} MiB, end ${fmt(mem.endKb / 1024)} MiB ` +
        `(peak − start: ${fmt((mem.peakKb - mem.startKb) / 1024)} MiB).`,
    );
    out.push('');
    out.push(`Gateway RSS over the phase (MiB): ${rssTimeline(mem.samples)}.`);
    if (mem.errorSamples.length) out.push(`Errors: ${mem.errorSamples.join('; ')}`);
    out.push('');
  }

  const checks = checkTargets(results.levels);
  if (checks.length) {
    out.push('## Targets (reported, not asserted)');
    out.push('');
    out.push(
      markdownTable(
        ['path', 'what', 'measured', 'target', 'met'],
        checks.map((c) => [
          PATH_LABELS[c.path],
          c.what,
          c.measured,
          c.target,
          c.met ? 'yes' : 'no',
        ]),
      ),
    );
    out.push('');
  }

  const errors = results.levels.filter((l) => l.load.errorSamples.length);
  if (errors.length || results.notes.length) {
    out.push('## Notes');
    out.push('');
    for (const note of results.notes) out.push(`- ${note}`);
    for (const l of errors) {
      out.push(
        `- ${PATH_LABELS[l.path]}, ${mode(l)} ${l.concurrency}: ${l.load.errorSamples.join('; ')}`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
