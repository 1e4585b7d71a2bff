// The daemon as its own process, the way operators and the end-to-end tests run it: the
// real simulator as its engine, a stand-in gateway, and SIGTERM at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_PLANE_JWT_ISSUER } from '../../schema/contracts.ts';
import { writeConfig } from './config.ts';
import { freeLocalPort } from './control/endpoint.ts';
import { startFakeGateway, type FakeGateway } from './testing/fake-gateway.ts';
import { testSigner, type TestSigner } from './testing/jwt.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_ID = 'node-proc';
const MODEL = `daemon-test-${process.pid}`;

let dir: string;
let signer: TestSigner;
let gateway: FakeGateway;
let child: ChildProcess;
let output = '';
let url: string;

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function simPids(): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((l) => l.includes('sim/main.ts') && l.includes(MODEL))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-daemon-'));
  signer = await testSigner();
  gateway = await startFakeGateway({
    jwks: signer.jwks,
    nodeId: NODE_ID,
    nodeSecret: 'proc-secret',
  });
  gateway.desired = [
    {
      instance_id: 'inst-proc',
      deployment_id: 'dep-proc',
      model: MODEL,
      recipe: 'sim',
      options: { ttft_ms: 1, itl_ms: 1, max_tokens: 8, seed: 3 },
      gpus: 0,
    },
  ];
  const port = await freeLocalPort();
  url = `http://127.0.0.1:${port}`;
  const configPath = join(dir, 'node.json');
  await writeConfig(configPath, {
    gateway_url: gateway.url,
    node_id: NODE_ID,
    node_secret: 'proc-secret',
    name: 'proc',
    advertise_url: url,
    issuer: DATA_PLANE_JWT_ISSUER,
    jwks: signer.jwks,
    heartbeat_interval_s: 0.5,
    listen: `127.0.0.1:${port}`,
    model_cache: join(dir, 'models'),
    runtime: 'process',
  });
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'gpu-node/src/daemon.ts', 'run', '--config', configPath],
    {
      cwd: ROOT,
      env: { ...process.env, FLEETGATE_NVIDIA_SMI: join(dir, 'no-nvidia-smi') },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  await until('the daemon to listen', () => (/listening on http/.test(output) ? true : undefined));
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGKILL');
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

describe('fleetgate-node run (a separate process)', () => {
  it('serves the simulator it started, and stops it on SIGTERM', async () => {
    await until('the instance to be ready', () =>
      gateway.heartbeats.at(-1)?.instances.find((i) => i.state === 'ready') ? true : undefined,
    );
    expect(gateway.invalid).toEqual([]);
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-proc', model: MODEL });
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        max_tokens: 3,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    });
    expect(res.status).toBe(200);
    const body = await res.json<{ usage: { completion_tokens: number } }>();
    expect(body.usage.completion_tokens).toBe(3);

    const logsToken = await signer.sign({ aud: NODE_ID, instance: 'inst-proc', scope: 'logs' });
    const logs = await fetch(`${url}/fleetgate/v1/instances/inst-proc/logs?tail=50`, {
      headers: { authorization: `Bearer ${logsToken}` },
    });
    expect(logs.status).toBe(200);
    expect((await logs.json<{ data: string[] }>()).data.length).toBeGreaterThan(0);

    const [pid] = simPids();
    expect(pid).toBeGreaterThan(0);
    const exited = new Promise<number | null>((resolve) =>
      child.once('exit', (code) => resolve(code)),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(simPids()).toEqual([]);
  });
});
