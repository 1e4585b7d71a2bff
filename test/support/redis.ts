// A real redis-server for the tests (Debian's package; .ci/run installs it): the one CI
// started when FLEETGATE_TEST_REDIS_URL names it, else a fresh one on a free loopback port
// that the test owns (and may stop to see what the gateway does without Redis).
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './processes.ts';

export interface TestRedis {
  url: string;
  // Stops the server when this test started it; a shared one is left running.
  stop(): Promise<void>;
}

export async function startRedis(opts: { own?: boolean } = {}): Promise<TestRedis> {
  const shared = process.env.FLEETGATE_TEST_REDIS_URL;
  if (shared && !opts.own) return { url: shared, stop: () => Promise.resolve() };
  const port = await freePort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`redis-server did not start:\n${output}`)),
      10_000,
    );
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (apt-get install redis-server): ${err.message}`));
    });
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
