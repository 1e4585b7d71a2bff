// Hand-made results for the report and chart tests.
import type { LoadResult } from './loadgen.ts';
import type { BenchResults, LevelResult, MemoryPhase, PathName } from './results.ts';
import { summarize } from './stats.ts';

export function level(
  path: PathName,
  concurrency: number,
  opts: {
    stream?: boolean;
    ttft?: number[];
    latency?: number[];
    rps?: number;
    completed?: number;
    tokens?: number;
    // CPU seconds of each role in the window (defaults below).
    cpu?: Record<string, number>;
  } = {},
): LevelResult {
  const stream = opts.stream ?? true;
  const latency = opts.latency ?? [180, 190, 200];
  const completed = opts.completed ?? 1000;
  const tokens = opts.tokens ?? 32;
  const load: LoadResult = {
    concurrency,
    stream,
    windowMs: 5000,
    completed,
    failed: 0,
    errorSamples: [],
    rps: opts.rps ?? completed / 5,
    ttftMs: stream ? summarize(opts.ttft ?? [20, 21, 22]) : null,
    latencyMs: summarize(latency),
    chunksPerAnswer: stream ? tokens : null,
    chunksInWindow: stream ? completed * tokens : 0,
    clientCpuS: 1,
  };
  const processes: LevelResult['processes'] =
    path === 'direct'
      ? { sim: { cpuS: 2, peakRssKb: 60_000 } }
      : path === 'floor'
        ? { sim: { cpuS: 2, peakRssKb: 60_000 }, floor: { cpuS: 1, peakRssKb: 50_000 } }
        : {
            sim: { cpuS: 2, peakRssKb: 60_000 },
            daemon: { cpuS: 1.5, peakRssKb: 90_000 },
            ...(path === 'node' ? {} : { gateway: { cpuS: 3, peakRssKb: 120 * 1024 } }),
          };
  for (const [role, cpuS] of Object.entries(opts.cpu ?? {})) {
    processes[role] = { cpuS, peakRssKb: processes[role]?.peakRssKb ?? 50_000 };
  }
  return { path, stream, concurrency, tokens, load, processes };
}

export function results(levels: LevelResult[]): BenchResults {
  return {
    startedAt: '2026-01-01T00:00:00Z',
    machine: {
      cpus: 2,
      cpuModel: 'Test CPU',
      memoryGiB: 4,
      os: 'linux',
      node: 'v20.0.0',
      loadAvgAtStart: 0.5,
    },
    commit: 'abc1234',
    settings: {
      ttftMs: 20,
      itlMs: 5,
      maxTokens: 32,
      warmupMs: 1000,
      durationMs: 5000,
      levels: [1, 64],
      nonStreamingConcurrency: 16,
      longConcurrency: 0,
      longTokens: 512,
      paths: ['direct', 'floor', 'node', 'gateway'],
    },
    levels,
    memory: null,
    notes: [],
  };
}

// A memory phase: 1000 slow streams, the gateway's RSS flat at 100 MiB.
export const memory: MemoryPhase = {
  path: 'gateway',
  concurrency: 1000,
  durationMs: 10_000,
  tokensPerStream: 100,
  itlMs: 100,
  samples: [
    { tMs: 0, rssKb: 100 * 1024 },
    { tMs: 1000, rssKb: 100 * 1024 },
  ],
  idleAtStartKb: 80 * 1024,
  beforeKb: 90 * 1024,
  startKb: 100 * 1024,
  medianKb: 100 * 1024,
  peakKb: 101 * 1024,
  endKb: 100 * 1024,
  afterKb: 95 * 1024,
  peakAnonKb: 70 * 1024,
  peakFileKb: 31 * 1024,
  completed: 1000,
  failed: 0,
  errorSamples: [],
};
