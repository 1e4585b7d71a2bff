// Reads the servers' CPU time and memory over one measuring window: CPU from /proc at the
// window's start and end, RSS sampled every 100 ms in between (VmHWM would give the peak
// since the process started, not the peak of this level).
import { cpuSeconds, descendants, memory, processTable } from './procfs.ts';
import type { MemorySample, ProcessUsage } from './results.ts';

// A role ('gateway', 'daemon', 'sim') is one process, or a process and everything it
// started (wrangler dev runs the Worker in a workerd child).
export interface Role {
  name: string;
  pid: number;
  withDescendants?: boolean;
}

const SAMPLE_MS = 100;

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

function pidsOf(role: Role): number[] {
  if (!role.withDescendants) return [role.pid];
  return [role.pid, ...descendants(processTable(), role.pid)];
}

function sum(pids: readonly number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += read(pid);
    } catch {
      // A short-lived helper process exited; it no longer counts.
    }
  }
  return total;
}

export class WindowProbe {
  private readonly pids = new Map<string, number[]>();
  private readonly cpuStart = new Map<string, number>();
  private readonly cpuEnd = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  // The window on the monotonic clock in microseconds (as CPU profiles time their samples).
  fromUs = 0;
  toUs = 0;

  constructor(private readonly roles: readonly Role[]) {}

  start(): void {
    this.fromUs = monotonicUs();
    for (const role of this.roles) {
      const pids = pidsOf(role);
      this.pids.set(role.name, pids);
      this.cpuStart.set(role.name, sum(pids, cpuSeconds));
      this.peak.set(role.name, 0);
    }
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    for (const [name, pids] of this.pids) this.cpuEnd.set(name, sum(pids, cpuSeconds));
    this.toUs = monotonicUs();
  }

  usage(): Record<string, ProcessUsage> {
    const out: Record<string, ProcessUsage> = {};
    for (const role of this.roles) {
      const start = this.cpuStart.get(role.name);
      const end = this.cpuEnd.get(role.name);
      if (start === undefined || end === undefined) continue;
      out[role.name] = { cpuS: end - start, peakRssKb: this.peak.get(role.name) ?? 0 };
    }
    return out;
  }

  private sample(): void {
    for (const [name, pids] of this.pids) {
      const rss = sum(pids, (pid) => memory(pid).rssKb);
      this.peak.set(name, Math.max(this.peak.get(name) ?? 0, rss));
    }
  }
}

// RSS of one process over time, for the slow-stream memory phase.
export class RssRecorder {
  readonly samples: MemorySample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;

  constructor(
    private readonly role: Role,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    this.t0 = performance.now();
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
  }

  // Milliseconds since start(), on the samples' clock.
  elapsedMs(): number {
    return Math.round(performance.now() - this.t0);
  }

  private sample(): void {
    const pids = pidsOf(this.role);
    const rssKb = sum(pids, (pid) => memory(pid).rssKb);
    // The split is read for a single process only (wrangler's tree would mix processes).
    const split = pids.length === 1 && pids[0] !== undefined ? safeMemory(pids[0]) : undefined;
    this.samples.push({
      tMs: this.elapsedMs(),
      rssKb,
      anonKb: split?.anonKb ?? null,
      fileKb: split?.fileKb ?? null,
    });
  }
}

function safeMemory(pid: number) {
  try {
    return memory(pid);
  } catch {
    return undefined;
  }
}
