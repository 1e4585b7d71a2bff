// Hand-made results for the report and chart tests.
import type { LoadResult } from './loadgen.ts';
import type { BenchResults, LevelResult, PathName } from './results.ts';
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
  } = {},
): LevelResult {
  const stream = opts.stream ?? true;
  const latency = opts.latency ?? [180, 190, 200];
  const completed = opts.completed ?? 1000;
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
    chunksPerAnswer: stream ? 32 : null,
    clientCpuS: 1,
  };
  const processes: LevelResult['processes'] =
    path === 'direct'
      ? { sim: { cpuS: 2, peakRssKb: 60_000 } }
      : {
          sim: { cpuS: 2, peakRssKb: 60_000 },
          daemon: { cpuS: 1.5, peakRssKb: 90_000 },
          ...(path === 'node' ? {} : { gateway: { cpuS: 3, peakRssKb: 120 * 1024 } }),
        };
  return { path, stream, concurrency, load, processes };
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
      paths: ['direct', 'node', 'gateway'],
    },
    levels,
    memory: null,
    notes: [],
  };
}
