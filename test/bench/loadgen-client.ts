// The parent's side of the load generator: starts it as its own process and runs one load
// at a time over JSON lines, calling back when the measuring window opens and closes.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LoadConfig, LoadEvent, LoadResult } from './loadgen.ts';
import { repoRoot } from '../support/processes.ts';

export interface LoadGenerator {
  pid: number;
  run(
    config: LoadConfig,
    window: { start: () => void; end: () => void },
    timeoutMs: number,
  ): Promise<LoadResult>;
  stop(): Promise<void>;
}

export async function startLoadGenerator(): Promise<LoadGenerator> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/bench/loadgen.ts'],
    { cwd: repoRoot, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const { stdin, stdout } = child;
  if (!stdin || !stdout || child.pid === undefined) throw new Error('load generator did not start');
  const pid = child.pid;
  const lines = createInterface({ input: stdout });
  let listener: ((event: LoadEvent) => void) | undefined;
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  lines.on('line', (line) => {
    try {
      listener?.(JSON.parse(line) as LoadEvent);
    } catch {
      // Not an event (a stray log line).
    }
  });

  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('load generator not ready in 30 s')), 30_000);
    listener = (event) => {
      if (event.type === 'ready') {
        clearTimeout(timer);
        resolve();
      }
    };
    void exit.then(() => reject(new Error('load generator exited at start')));
  });

  let seq = 0;
  return {
    pid,
    run(config, window, timeoutMs) {
      seq += 1;
      const id = `run-${seq}`;
      return new Promise<LoadResult>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`load run did not finish in ${timeoutMs} ms`)),
          timeoutMs,
        );
        const settle = () => {
          clearTimeout(timer);
          listener = undefined;
        };
        void exit.then(() => {
          settle();
          reject(new Error('load generator exited during a run'));
        });
        listener = (event) => {
          if (!('id' in event) || event.id !== id) return;
          if (event.type === 'window-start') window.start();
          else if (event.type === 'window-end') window.end();
          else if (event.type === 'result') {
            settle();
            resolve(event.result);
          } else {
            settle();
            reject(new Error(`load run failed: ${event.message}`));
          }
        };
        stdin.write(`${JSON.stringify({ type: 'run', id, config })}\n`);
      });
    },
    async stop() {
      if (exited) return;
      stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
}
