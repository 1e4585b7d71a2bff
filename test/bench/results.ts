// The shape of one benchmark run's results (results.json), shared by the runner, the
// Markdown report and the chart.
import type { LoadResult } from './loadgen.ts';

// (a) straight to the simulator, (m) through a bare node:http pass-through written for the
// bench (the floor any Node.js hop costs), (b) through the gpu-node daemon only, (c) gateway
// on the Node host -> gpu-node, (d) gateway on the Worker host (wrangler dev) -> gpu-node,
// (e) gateway on the Node host -> the tunnel a gpu-node in tunnel mode dialled -> gpu-node.
export const PATHS = ['direct', 'floor', 'node', 'gateway', 'limited', 'worker', 'tunnel'] as const;
export type PathName = (typeof PATHS)[number];

export const PATH_LABELS: Record<PathName, string> = {
  direct: '(a) direct to sim',
  floor: '(m) bare node:http hop',
  node: '(b) gpu-node',
  gateway: '(c) gateway (Node) + gpu-node',
  limited: '(c+) as (c), a key with every limit',
  worker: '(d) gateway (Worker) + gpu-node',
  tunnel: '(e) gateway (Node) + tunnel + gpu-node',
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
  // Tokens per answer: the short answers of the main levels, or the long-stream level's.
  tokens: number;
  load: LoadResult;
  // Keyed by role: 'gateway', 'daemon', 'floor', 'sim'.
  processes: Record<string, ProcessUsage>;
  // The measuring window on the monotonic clock (µs), to crop CPU profiles to it.
  windowUs?: { fromUs: number; toUs: number };
}

export interface MemorySample {
  tMs: number;
  rssKb: number;
  // RSS split (procfs.ts); null where the kernel does not report it.
  anonKb?: number | null;
  fileKb?: number | null;
}

// RSS of the gateway while it proxies many slow streams at once: before they open, while
// they are open, and once they all ended.
export interface MemoryPhase {
  path: PathName;
  concurrency: number;
  durationMs: number;
  tokensPerStream: number;
  itlMs: number;
  // Samples from before the first stream opened to a few seconds after the last ended.
  samples: MemorySample[];
  // The idle gateway before the first level ran, and just before the streams open (after
  // every level): the difference is what the levels left behind.
  idleAtStartKb: number | null;
  beforeKb: number;
  // While the streams were open (the load's window): first sample, median and peak.
  startKb: number;
  medianKb: number;
  peakKb: number;
  // The last sample while the streams were open, and the idle gateway after they ended.
  endKb: number;
  afterKb: number;
  // The gateway's RSS split at the peak (from /proc/<pid>/status), to tell heap growth
  // (anonymous memory) from mapped code and files.
  peakAnonKb: number | null;
  peakFileKb: number | null;
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
  // The long-stream level: its concurrency (0: not run) and tokens per answer.
  longConcurrency: number;
  longTokens: number;
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
