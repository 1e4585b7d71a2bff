// The process runtime: each engine is a child process in its own process group, so that
// stopping it also stops whatever it spawned. Processes cannot be adopted across daemon
// restarts (the daemon is their parent), so list() returns only what this instance started,
// and the daemon stops them all before it exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import { LOG_TAIL_MAX_LINES } from '../../../schema/contracts.ts';
import type { EngineSpec, EngineStatus, Runtime, StartHooks } from './types.ts';

// As many lines as the gateway may ask for.
export const DEFAULT_LOG_LINES = LOG_TAIL_MAX_LINES;

// Keeps the last `capacity` lines.
export class LineRing {
  private readonly lines: string[] = [];
  private start = 0;
  constructor(private readonly capacity: number) {}

  push(line: string): void {
    if (this.lines.length < this.capacity) this.lines.push(line);
    else {
      this.lines[this.start] = line;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  tail(n: number): string[] {
    const ordered = [...this.lines.slice(this.start), ...this.lines.slice(0, this.start)];
    return n <= 0 ? [] : ordered.slice(-n);
  }
}

interface Tracked {
  spec: EngineSpec;
  child: ChildProcess;
  pid: number;
  logs: LineRing;
  // Followed logs (followLogs): called with each new line.
  followers: Set<(line: string) => void>;
  exitCode?: number;
  exited: Promise<void>;
}

function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  // The shell's convention: 128 + signal number.
  return signal ? 128 + (constants.signals[signal] ?? 0) : 1;
}

function killGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

function groupAlive(pid: number): boolean {
  return killGroup(pid, 0);
}

export class ProcessRuntimeError extends Error {
  override readonly name = 'ProcessRuntimeError';
}

export interface ProcessRuntimeOptions {
  logLines?: number;
}

export class ProcessRuntime implements Runtime {
  readonly kind = 'process' as const;
  private readonly tracked = new Map<string, Tracked>();
  private readonly logLines: number;

  constructor(options: ProcessRuntimeOptions = {}) {
    this.logLines = options.logLines ?? DEFAULT_LOG_LINES;
  }

  async start(
    spec: EngineSpec,
    hooks: StartHooks = {},
    signal?: AbortSignal,
  ): Promise<EngineStatus> {
    signal?.throwIfAborted();
    const [command, ...args] = spec.command;
    if (!command) throw new ProcessRuntimeError(`instance ${spec.instanceId}: empty command`);
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: {
        ...process.env,
        ...spec.env,
        // An instance sees exactly the GPUs it was given; none means none.
        CUDA_VISIBLE_DEVICES: spec.gpuIndices.join(','),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });

    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new ProcessRuntimeError(
            err.code === 'ENOENT'
              ? `cannot start ${command}: command not found`
              : `cannot start ${command}: ${err.message}`,
            { cause: err },
          ),
        );
      });
    });
    const pid = child.pid;
    if (pid === undefined) throw new ProcessRuntimeError(`cannot start ${command}: no pid`);

    const logs = new LineRing(this.logLines);
    const entry: Tracked = {
      spec,
      child,
      pid,
      logs,
      followers: new Set(),
      exited: new Promise((resolve) => {
        child.once('exit', (code, sig) => {
          entry.exitCode = exitCodeOf(code, sig);
          resolve();
        });
      }),
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        // A line without a newline must not grow forever.
        if (rest.length > 64 * 1024) {
          parts.push(rest);
          rest = '';
        }
        for (const line of parts) {
          logs.push(line);
          hooks.onLog?.(line);
          for (const follower of entry.followers) follower(line);
        }
      });
      stream?.on('end', () => {
        if (rest) {
          logs.push(rest);
          for (const follower of entry.followers) follower(rest);
        }
        rest = '';
      });
    }
    this.tracked.set(String(pid), entry);

    if (signal?.aborted) {
      await this.stop(String(pid), spec.stopGraceSeconds ?? 5);
      signal.throwIfAborted();
    }
    return this.statusOf(String(pid), entry);
  }

  async stop(handle: string, graceSeconds: number): Promise<void> {
    const entry = this.tracked.get(handle);
    if (!entry) return;
    if (entry.exitCode === undefined) {
      killGroup(entry.pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, graceSeconds) * 1000);
      });
      const outcome = await Promise.race([entry.exited.then(() => 'exited' as const), graceOver]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        killGroup(entry.pid, 'SIGKILL');
        await entry.exited;
      }
    }
    // The leader is gone; whatever it spawned and left behind goes too.
    if (groupAlive(entry.pid)) killGroup(entry.pid, 'SIGKILL');
  }

  remove(handle: string): Promise<void> {
    const entry = this.tracked.get(handle);
    if (entry && entry.exitCode !== undefined) this.tracked.delete(handle);
    return Promise.resolve();
  }

  inspect(handle: string): Promise<EngineStatus | undefined> {
    const entry = this.tracked.get(handle);
    return Promise.resolve(entry ? this.statusOf(handle, entry) : undefined);
  }

  list(nodeId: string): Promise<EngineStatus[]> {
    const out: EngineStatus[] = [];
    for (const [handle, entry] of this.tracked) {
      if (entry.spec.nodeId === nodeId) out.push(this.statusOf(handle, entry));
    }
    return Promise.resolve(out);
  }

  logs(handle: string, tail: number): Promise<string[]> {
    return Promise.resolve(this.tracked.get(handle)?.logs.tail(tail) ?? []);
  }

  async followLogs(
    handle: string,
    tail: number,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const entry = this.tracked.get(handle);
    if (!entry) return;
    // The tail and the follower in one synchronous step: no line falls between them.
    for (const line of entry.logs.tail(tail)) onLine(line);
    if (entry.exitCode !== undefined || signal.aborted) return;
    entry.followers.add(onLine);
    try {
      await new Promise<void>((resolve) => {
        signal.addEventListener('abort', () => resolve(), { once: true });
        void entry.exited.then(resolve);
      });
    } finally {
      entry.followers.delete(onLine);
    }
  }

  // Last resort on daemon exit (also on a crash): synchronous, so it works in 'exit'.
  killAllSync(): void {
    for (const entry of this.tracked.values()) {
      if (entry.exitCode === undefined || groupAlive(entry.pid)) killGroup(entry.pid, 'SIGKILL');
    }
  }

  private statusOf(handle: string, entry: Tracked): EngineStatus {
    const status: EngineStatus = {
      handle,
      instanceId: entry.spec.instanceId,
      deploymentId: entry.spec.deploymentId,
      state: entry.exitCode === undefined ? 'running' : 'exited',
      port: entry.spec.port,
      gpuIndices: [...entry.spec.gpuIndices],
      labels: { ...entry.spec.labels },
    };
    if (entry.exitCode !== undefined) status.exitCode = entry.exitCode;
    return status;
  }
}
