// Path (d): the gateway's Worker host under `wrangler dev` (workerd, local D1), with a
// gpu-node of its own registered against it and the same simulator deployed behind it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import { freePort, repoRoot, type Service } from '../support/processes.ts';
import { adminApi, startNode, type Gateway } from '../support/stack.ts';
import { deploySim, type Sim } from './services.ts';

export interface WorkerStack {
  url: string;
  apiKey: string;
  wranglerPid: number;
  daemonPid: number;
}

const WRANGLER = join(repoRoot, 'node_modules/wrangler/bin/wrangler.js');
const MAX_LINES = 200;
// No telemetry, no prompts, no update checks: the machine may have no network.
const WRANGLER_ENV = { CI: '1', WRANGLER_SEND_METRICS: 'false', NO_UPDATE_NOTIFIER: '1' };

function runWrangler(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...WRANGLER_ENV },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else
        reject(
          new Error(`wrangler ${args.slice(0, 3).join(' ')} failed (${String(code)}):\n${output}`),
        );
    });
  });
}

// wrangler dev in a process group of its own, so stopping it also stops its workerd.
function startWranglerDev(args: string[], timeoutMs: number): Promise<Service> {
  const child = spawn(process.execPath, [WRANGLER, 'dev', ...args], {
    cwd: repoRoot,
    env: { ...process.env, ...WRANGLER_ENV },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killGroup = (signal: NodeJS.Signals) => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  const service: Service = {
    name: 'wrangler dev',
    child,
    output: () => lines.join('\n'),
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        killGroup('SIGKILL'); // workerd may outlive its parent
        return;
      }
      killGroup(signal);
      const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
      killGroup('SIGKILL');
    },
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void service.stop('SIGKILL', 0);
      reject(new Error(`${why}\n--- wrangler dev output ---\n${service.output()}`));
    };
    const timer = setTimeout(() => fail(`wrangler dev not ready in ${timeoutMs} ms`), timeoutMs);
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (chunk: string) => {
        for (const line of chunk.split('\n')) {
          lines.push(line);
          if (lines.length > MAX_LINES) lines.shift();
          if (!settled && /Ready on http/.test(line)) {
            settled = true;
            clearTimeout(timer);
            resolve(service);
          }
        }
      });
    }
    child.once('exit', (code) => fail(`wrangler dev exited (${String(code)}) before it was ready`));
  });
}

export async function startWorkerStack(opts: {
  dir: string;
  sim: Sim;
  model: string;
  track: (service: Service) => Service;
}): Promise<WorkerStack> {
  const persist = join(opts.dir, 'wrangler-state');
  const adminToken = `bench-admin-${randomBytes(16).toString('hex')}`;
  // Secrets go in a 0600 env file in the temp folder, not on the command line (where `ps`
  // shows them) and not in the repository's .dev.vars.
  const envFile = join(opts.dir, 'worker.env');
  const jwk = JSON.stringify(await generateSigningJwk());
  await writeFile(
    envFile,
    [
      `FLEETGATE_ADMIN_TOKEN=${adminToken}`,
      `FLEETGATE_SIGNING_JWK='${jwk}'`,
      'FLEETGATE_HEARTBEAT_INTERVAL_S=2',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await runWrangler(
    ['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persist],
    120_000,
  );

  const port = await freePort();
  const service = opts.track(
    await startWranglerDev(
      [
        '--local',
        '--ip',
        '127.0.0.1',
        '--port',
        String(port),
        '--inspector-port',
        String(await freePort()),
        '--persist-to',
        persist,
        '--env-file',
        envFile,
        '--show-interactive-dev-session=false',
        // "Ready on ..." is logged at info level.
        '--log-level',
        'info',
      ],
      120_000,
    ),
  );
  const url = `http://127.0.0.1:${port}`;
  const gateway: Gateway = { url, adminToken, service, admin: adminApi(url, adminToken) };
  const node = await startNode({
    gateway,
    name: 'bench-worker-node',
    configPath: join(opts.dir, 'worker-node.json'),
  });
  opts.track(node.service);
  await deploySim(gateway, node, opts.model, opts.sim);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'bench' });
  if (service.child.pid === undefined || node.service.child.pid === undefined) {
    throw new Error('wrangler dev or its gpu-node has no pid');
  }
  return {
    url,
    apiKey: key.key,
    wranglerPid: service.child.pid,
    daemonPid: node.service.child.pid,
  };
}
