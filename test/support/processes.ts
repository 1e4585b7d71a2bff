// Starts fleetgate's parts as real child processes (TypeScript through tsx) and stops them
// again: used by the end-to-end tests, `npm start` and the benchmark.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface Service {
  name: string;
  child: ChildProcess;
  // Last lines of its stdout and stderr, for failure messages.
  output(): string;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export interface StartOptions {
  name: string;
  // Path of a TypeScript entry relative to the repository root, then its arguments.
  entry: string;
  args?: string[];
  // Options for node itself, before the entry (e.g. --cpu-prof, which NODE_OPTIONS refuses).
  nodeArgs?: string[];
  env?: Record<string, string>;
  // Resolves once a line matches; omitted: resolves at once.
  ready?: RegExp;
  timeoutMs?: number;
  // Echo the child's output with a name prefix (npm start).
  echo?: boolean;
}

const MAX_LINES = 200;

export function startService(opts: StartOptions): Promise<Service & { readyLine: string }> {
  const nodeArgs = [...(opts.nodeArgs ?? []), '--import', 'tsx', opts.entry];
  const child = spawn(process.execPath, [...nodeArgs, ...(opts.args ?? [])], {
    cwd: repoRoot,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const service: Service = {
    name: opts.name,
    child,
    output: () => lines.join('\n'),
    stop: (signal = 'SIGTERM', graceMs = 5000) => stopChild(child, () => exited, signal, graceMs),
  };

  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      fail(new Error(`${opts.name} did not become ready in ${opts.timeoutMs ?? 30_000} ms`));
    }, opts.timeoutMs ?? 30_000);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void service.stop('SIGKILL', 0);
      reject(new Error(`${err.message}\n--- ${opts.name} output ---\n${service.output()}`));
    };
    const onLine = (line: string) => {
      lines.push(line);
      if (lines.length > MAX_LINES) lines.shift();
      if (opts.echo) console.log(`[${opts.name}] ${line}`);
      if (!settled && opts.ready?.test(line)) {
        settled = true;
        clearTimeout(timer);
        resolve({ ...service, readyLine: line });
      }
    };
    for (const stream of [child.stdout, child.stderr]) {
      let rest = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        const parts = (rest + chunk).split('\n');
        rest = parts.pop() ?? '';
        parts.forEach(onLine);
      });
    }
    child.once('error', fail);
    child.once('exit', (code, signal) => {
      fail(
        new Error(`${opts.name} exited (${signal ?? `code ${String(code)}`}) before it was ready`),
      );
    });
    if (!opts.ready) {
      settled = true;
      clearTimeout(timer);
      resolve({ ...service, readyLine: '' });
    }
  });
}

// Runs a command to completion (e.g. the registration script) and returns its output.
export function runToEnd(
  entry: string,
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${entry} ${args[0] ?? ''} did not finish in ${timeoutMs} ms\n${stdout}\n${stderr}`,
        ),
      );
    }, timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function stopChild(
  child: ChildProcess,
  hasExited: () => boolean,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  if (hasExited() || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}

// A port free right now on 127.0.0.1 (the kernel picks it): the daemon's own helper.
export { freeLocalPort as freePort } from '../../gpu-node/src/control/endpoint.ts';
