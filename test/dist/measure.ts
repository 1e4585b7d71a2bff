// `npm run measure:dist`: the Node-host gateway compiled (dist/, no loader) against the
// sources through tsx, in the same run: time from spawn to listening, then, once idle,
// resident memory (VmRSS) and its peak so far (VmHWM, start-up included). Linux only
// (/proc). Each variant starts ROUNDS times on a fresh database; medians are printed.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../support/processes.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const IDLE_MS = 3000;

interface Sample {
  startMs: number;
  idleRssMiB: number;
  peakRssMiB: number;
}

async function statusKiB(pid: number, field: string): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} for pid ${pid}`);
  return Number(match[1]);
}

async function sample(args: string[]): Promise<Sample> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetgate-measure-'));
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      FLEETGATE_ADMIN_TOKEN: 'measure-admin-token-0123456789',
      FLEETGATE_DB_URL: `file:${join(dir, 'fleetgate.db')}`,
      FLEETGATE_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const match = /listening on (http:\/\/\S+)/.exec(out);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', (code) => reject(new Error(`gateway exited (${String(code)})`)));
    });
    const startMs = performance.now() - started;
    if (!(await fetch(`${url}/healthz`)).ok) throw new Error('healthz failed');
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const pid = child.pid ?? 0;
    return {
      startMs,
      idleRssMiB: (await statusKiB(pid, 'VmRSS')) / 1024,
      peakRssMiB: (await statusKiB(pid, 'VmHWM')) / 1024,
    };
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  const variants: [string, string[]][] = [
    ['compiled (node dist/gateway/src/node.js)', ['dist/gateway/src/node.js']],
    ['tsx (node --import tsx gateway/src/node.ts)', ['--import', 'tsx', 'gateway/src/node.ts']],
  ];
  const results = new Map<string, Sample[]>(variants.map(([name]) => [name, []]));
  // Interleaved, so both variants see the same machine load.
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, args] of variants) results.get(name)?.push(await sample(args));
  }
  console.log(`gateway, ${ROUNDS} starts each (medians), node ${process.version}`);
  console.log('variant'.padEnd(46), 'start ms', 'idle RSS MiB', 'peak RSS MiB');
  for (const [name, samples] of results) {
    console.log(
      name.padEnd(46),
      median(samples.map((s) => s.startMs))
        .toFixed(0)
        .padStart(8),
      median(samples.map((s) => s.idleRssMiB))
        .toFixed(1)
        .padStart(12),
      median(samples.map((s) => s.peakRssMiB))
        .toFixed(1)
        .padStart(12),
    );
  }
}

await main();
