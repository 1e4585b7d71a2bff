// The shape of one benchmark run's results (results.json), shared by the runner, the
// Markdown report and the chart.
import type { LoadResult } from './loadgen.ts';

// (a) straight to the simulator, (b) through the gpu-node daemon only, (c) gateway on the
// Node host -> gpu-node, (d) gateway on the Worker host (wrangler dev) -> gpu-node.
export const PATHS = ['direct', 'node', 'gateway', 'limited', 'worker'] as const;
export type PathName = (typeof PATHS)[number];

export const PATH_LABELS: Record<PathName, string> = {
  direct: '(a) direct to sim',
  node: '(b) gpu-node',
  gateway: '(c) gateway (Node) + gpu-node',
  limited: '(c+) as (c), a key with every limit',
  worker: '(d) gateway (Worker) + gpu-node',
};

// A measured server process during one level.
export interface ProcessUsage {
  // CPU seconds (user + system) used inside the measuring window.
  cpuS: number;
  // Highest resident set size sampled inside the window (KiB).
  peakRssKb: number;
}

export interface LevelResult {
  path: PathName;
  stream: boolean;
  concurrency: number;
  load: LoadResult;
  // Keyed by role: 'gateway', 'daemon', 'sim'.
  processes: Record<string, ProcessUsage>;
}

export interface MemorySample {
  tMs: number;
  rssKb: number;
}

// RSS of the gateway while it proxies many slow streams at once.
export interface MemoryPhase {
  path: PathName;
  concurrency: number;
  durationMs: number;
  tokensPerStream: number;
  itlMs: number;
  samples: MemorySample[];
  startKb: number;
  peakKb: number;
  endKb: number;
  completed: number;
  failed: number;
  errorSamples: string[];
}

export interface BenchSettings {
  ttftMs: number;
  itlMs: number;
  maxTokens: number;
  warmupMs: number;
  durationMs: number;
  levels: number[];
  nonStreamingConcurrency: number;
  paths: PathName[];
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  // One-minute load average when the run started: other work on the machine skews results.
  loadAvgAtStart: number;
}

export interface BenchResults {
  startedAt: string;
  // The commit measured (short hash, '+dirty' with local changes), when git can tell.
  commit: string | null;
  machine: MachineInfo;
  settings: BenchSettings;
  levels: LevelResult[];
  memory: MemoryPhase | null;
  // What did not run, and why (e.g. the Worker host could not start).
  notes: string[];
}
