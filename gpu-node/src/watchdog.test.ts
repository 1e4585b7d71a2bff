// The hung-engine watchdog with a real daemon process and a real simulator that hangs
// (hang_after_requests): health checks keep passing, yet the instance is reported failed
// while a request is stuck, new requests are refused so the gateway goes elsewhere, and it
// is back once output flows again.
import { spawn, type ChildProcess } from 'node:child_process';
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
const NODE_ID = 'node-hang';
const MODEL = `hang-test-${process.pid}`;
const INSTANCE = 'inst-hang';

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

const lastReport = () =>
  gateway.heartbeats.at(-1)?.instances.find((i) => i.instance_id === INSTANCE);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-hang-'));
  signer = await testSigner();
  gateway = await startFakeGateway({
    jwks: signer.jwks,
    nodeId: NODE_ID,
    nodeSecret: 'hang-secret',
  });
  gateway.desired = [
    {
      instance_id: INSTANCE,
      deployment_id: 'dep-hang',
      model: MODEL,
      recipe: 'sim',
      // The second request hangs the engine for 4 s.
      options: {
        ttft_ms: 1,
        itl_ms: 5,
        max_tokens: 16,
        seed: 3,
        hang_after_requests: 1,
        hang_ms: 4000,
      },
      gpus: 0,
    },
  ];
  const port = await freeLocalPort();
  url = `http://127.0.0.1:${port}`;
  const configPath = join(dir, 'node.json');
  await writeConfig(configPath, {
    gateway_url: gateway.url,
    node_id: NODE_ID,
    node_secret: 'hang-secret',
    name: 'hang',
    advertise_url: url,
    issuer: DATA_PLANE_JWT_ISSUER,
    jwks: signer.jwks,
    heartbeat_interval_s: 0.3,
    listen: `127.0.0.1:${port}`,
    model_cache: join(dir, 'models'),
    runtime: 'process',
  });
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'gpu-node/src/daemon.ts', 'run', '--config', configPath],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        FLEETGATE_NVIDIA_SMI: join(dir, 'no-nvidia-smi'),
        FLEETGATE_NODE_HANG_TIMEOUT_S: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (output += d));
  await until('the daemon to listen', () => (/listening on http/.test(output) ? true : undefined));
}, 60_000);

afterAll(async () => {
  if (child.exitCode === null) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  if (child.exitCode === null) child.kill('SIGKILL');
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

async function chat(stream: boolean): Promise<Response> {
  const token = await signer.sign({ aud: NODE_ID, instance: INSTANCE, model: MODEL });
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 8,
      stream,
      messages: [{ role: 'user', content: 'hi' }],
    }),
  });
}

describe('the hung-engine watchdog', () => {
  it('takes a hanging engine out of rotation and brings it back when output flows again', async () => {
    await until('the instance to be ready', () =>
      lastReport()?.state === 'ready' ? true : undefined,
    );
    expect((await chat(false)).status).toBe(200);

    // The second request hangs the engine; its answer is held open.
    const stuck = await chat(true);
    expect(stuck.status).toBe(200);
    const body = stuck.text();

    const report = await until('the instance to be reported hung', () => {
      const r = lastReport();
      return r?.state === 'failed' ? r : undefined;
    });
    expect(report.detail).toMatch(/hung: 1 request\(s\) in flight and no output/);
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(503);
    expect(JSON.stringify(await readyz.json())).toMatch(/hung/);
    // New requests are refused at once, so the gateway tries another instance.
    const refused = await chat(false);
    expect(refused.status).toBe(503);
    expect(JSON.stringify(await refused.json())).toMatch(/instance_not_ready/);
    expect(output).toMatch(/engine hung/);

    // The engine resumes: the stuck answer completes and the instance is ready again.
    expect(await body).toMatch(/\[DONE\]/);
    await until('the instance to be ready again', () =>
      lastReport()?.state === 'ready' ? true : undefined,
    );
    expect((await chat(false)).status).toBe(200);
    expect(output).toMatch(/no longer hung/);
    expect(gateway.invalid).toEqual([]);
  }, 60_000);
});
