// The package as users get it: `npm pack` (which builds dist/ first, see build.ts), and
// helpers to run its compiled programs as child processes, without tsx.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { packInto } from '../../build.ts';
import { withLock } from '../support/lock.ts';

const run = promisify(execFile);

// Packs the repository into `dir` and returns the tarball's path. `npm pack` rebuilds dist/
// (prepack), so packing is serialized across test files.
export function packPackage(dir: string): Promise<string> {
  return withLock('fleetgate-pack', 120_000, () => packInto(dir));
}

// Installs the tarball into a new, empty project folder (from npm's cache where it can).
export async function installPackage(tarball: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetgate-installed-'));
  await run('npm', ['init', '-y'], { cwd: dir });
  await run(
    'npm',
    ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', tarball],
    { cwd: dir, maxBuffer: 16 * 1024 * 1024 },
  );
  return dir;
}

export interface Program {
  child: ChildProcess;
  output(): string;
  // Resolves with the first line matching `pattern` (rejects if the program exits first).
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

// Starts a long-running program; its output is kept for assertions and failure messages.
export function startProgram(
  command: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Program {
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      text += chunk;
      for (const listener of listeners) listener();
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => text,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = text.match(pattern);
          if (match) done(() => resolve(match));
        };
        const done = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        const timer = setTimeout(
          () => done(() => reject(new Error(`no ${String(pattern)} in ${timeoutMs} ms:\n${text}`))),
          timeoutMs,
        );
        listeners.add(check);
        void exited.then(() =>
          done(() => reject(new Error(`${command} exited before ${String(pattern)}:\n${text}`))),
        );
        check();
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// Runs a program to its end and returns its exit code and output.
export async function runProgram(
  command: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? String(err),
    };
  }
}
