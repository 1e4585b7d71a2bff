// Turns a run's results into Markdown: the tables printed by `npm run bench` and written to
// results.md. Pure functions of BenchResults.
import { hopCosts, renderHopTable } from './hops.ts';
import { DASH, fmt, markdownTable, signed } from './report-format.ts';
import {
  PATH_LABELS,
  type BenchResults,
  type LevelResult,
  type MemoryPhase,
  type PathName,
} from './results.ts';

export { fmt, markdownTable } from './report-format.ts';

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
  a.stream === b.stream && a.concurrency === b.concurrency && a.tokens === b.tokens;

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

// Issue 11's targets, reported (never asserted), each measured within one run: CPU per
// streamed request of each hop as a multiple of the bare hop's (m), throughput through
// gateway + daemon against direct, the time to first token they add, and the gateway's RSS
// while many slow streams stay open.
export const TARGETS = {
  cpuLevels: [64, 256],
  gatewayCpuVsFloor: 1.3,
  daemonCpuVsFloor: 1.2,
  // Throughput of (c) as a share of (a), per concurrency.
  rpsRatio: new Map([
    [64, 0.9],
    [256, 0.7],
  ]),
  ttftConcurrency: 64,
  ttftP50AddedMs: 3,
  // "Flat": the last RSS sample while the slow streams are open is within this share of
  // the first one.
  rssGrowth: 0.1,
} as const;

export interface TargetCheck {
  path: PathName;
  what: string;
  measured: string;
  target: string;
  met: boolean;
}

function cpuChecks(levels: readonly LevelResult[]): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const shortest = Math.min(...levels.map((l) => l.tokens));
  for (const row of hopCosts(levels)) {
    if (!row.stream || row.tokens !== shortest) continue;
    if (!(TARGETS.cpuLevels as readonly number[]).includes(row.concurrency)) continue;
    const pairs = [
      ['gateway', row.hops.gateway, TARGETS.gatewayCpuVsFloor],
      ['node', row.hops.daemon, TARGETS.daemonCpuVsFloor],
    ] as const;
    for (const [path, cost, limit] of pairs) {
      const times = cost?.perRequestRatio ?? null;
      checks.push({
        path,
        what: `${path === 'gateway' ? 'gateway' : 'daemon'} CPU per streamed request vs (m) at ${row.concurrency} streams`,
        measured: `${fmt(times, 2)}×`,
        target: `<= ${limit}×`,
        met: times !== null && times <= limit,
      });
    }
  }
  return checks;
}

function memoryCheck(memory: MemoryPhase): TargetCheck {
  const growth = memory.startKb > 0 ? memory.endKb / memory.startKb - 1 : Number.NaN;
  return {
    path: memory.path,
    what: `gateway RSS flat with ${memory.concurrency} slow streams open (last vs first sample)`,
    measured: `${signed(growth * 100, 1)}%`,
    target: `<= +${TARGETS.rssGrowth * 100}%`,
    met: growth <= TARGETS.rssGrowth,
  };
}

export function checkTargets(
  levels: readonly LevelResult[],
  memory: MemoryPhase | null = null,
): TargetCheck[] {
  const checks = cpuChecks(levels);
  const shortest = Math.min(...levels.map((l) => l.tokens));
  for (const c of compareToDirect(levels)) {
    const { level } = c;
    if (level.path === 'node' || level.path === 'floor' || !level.stream) continue;
    if (level.tokens !== shortest) continue;
    const minRatio = TARGETS.rpsRatio.get(level.concurrency);
    if (level.concurrency === TARGETS.ttftConcurrency) {
      checks.push({
        path: level.path,
        what: `added TTFT p50 at ${level.concurrency} streams`,
        measured: `${signed(c.ttftP50DeltaMs, 2)} ms`,
        target: `<= ${TARGETS.ttftP50AddedMs} ms`,
        met: c.ttftP50DeltaMs !== null && c.ttftP50DeltaMs <= TARGETS.ttftP50AddedMs,
      });
    }
    if (minRatio !== undefined) {
      checks.push({
        path: level.path,
        what: `throughput vs direct at ${level.concurrency} streams`,
        measured: `${fmt(c.rpsRatio * 100, 0)}%`,
        target: `>= ${minRatio * 100}%`,
        met: c.rpsRatio >= minRatio,
      });
    }
  }
  if (memory) checks.push(memoryCheck(memory));
  return checks;
}

// A level's mode; the long-stream level names its answer length.
const modeOf = (shortTokens: number) => (l: LevelResult) =>
  !l.stream ? 'non-stream' : l.tokens === shortTokens ? 'stream' : `stream, ${l.tokens} tok`;

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

function renderMemory(mem: MemoryPhase): string[] {
  const mib = (kb: number | null) => (kb === null ? DASH : fmt(kb / 1024));
  const split =
    mem.peakAnonKb !== null && mem.peakFileKb !== null
      ? ` At the peak, ${mib(mem.peakAnonKb)} MiB of it was anonymous memory (heap, buffers) and ${mib(mem.peakFileKb)} MiB mapped files (code).`
      : '';
  return [
    '## Gateway memory under slow streams',
    '',
    `${mem.concurrency} concurrent streams of ${mem.tokensPerStream} tokens at ${mem.itlMs} ms per token ` +
      `through ${PATH_LABELS[mem.path]} for ${mem.durationMs / 1000} s ` +
      `(${mem.completed} streams finished, ${mem.failed} failed).`,
    '',
    markdownTable(
      [
        'gateway RSS MiB',
        'idle at start',
        'before',
        'open: first',
        'open: median',
        'open: peak',
        'open: last',
        'after',
      ],
      [
        [
          '',
          mib(mem.idleAtStartKb),
          mib(mem.beforeKb),
          mib(mem.startKb),
          mib(mem.medianKb),
          mib(mem.peakKb),
          mib(mem.endKb),
          mib(mem.afterKb),
        ],
      ],
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
    `"idle at start": the gateway before the first level; "before": the idle gateway just before the streams open; "open": while the load runs; "after": ` +
      `the idle gateway a few seconds after the last stream ended.${split}`,
    '',
    `Gateway RSS over the phase (MiB): ${rssTimeline(mem.samples)}.`,
    ...(mem.errorSamples.length ? [`Errors: ${mem.errorSamples.join('; ')}`] : []),
    '',
  ];
}

export function renderMarkdown(results: BenchResults): string {
  const { settings: s, machine: m } = results;
  const mode = modeOf(s.maxTokens);
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
      `${s.maxTokens} tokens per answer${s.longConcurrency ? ` (${s.longTokens} in the long-stream level of ${s.longConcurrency} streams)` : ''}, no jitter. Each level: ${s.warmupMs / 1000} s warm-up, ` +
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

  const hops = hopCosts(results.levels);
  if (hops.length) {
    out.push('## CPU per hop against the bare hop (m)');
    out.push('');
    out.push(renderHopTable(hops, s.maxTokens));
    out.push('');
    out.push(
      'CPU milliseconds (from /proc) of the process that makes each hop, in the same level of the same run, ' +
        "and in brackets that figure as a multiple of the bare node:http pass-through's (m). " +
        'Daemon (b): the daemon alone, with the load generator signing its JWTs; daemon in (c) and gateway (c): behind the gateway. ' +
        `Answers of ${s.maxTokens} tokens are compared per request, longer ones per 1000 content chunks the load generator received in the window.`,
    );
    out.push('');
  }

  if (results.memory) out.push(...renderMemory(results.memory));

  const checks = checkTargets(results.levels, results.memory);
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
