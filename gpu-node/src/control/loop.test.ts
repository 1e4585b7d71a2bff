// The daemon against a stand-in gateway (a real HTTP server speaking the contracts) with a
// real engine process: start, readiness, crash and restart, removal, gateway outage.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DesiredInstance } from '../../../schema/contracts.ts';
import { DATA_PLANE_JWT_ISSUER } from '../../../schema/contracts.ts';
import { loadConfig, writeConfig, type NodeConfig } from '../config.ts';
import { startDaemon, type Daemon } from '../daemon.ts';
import { externalRecipe } from '../recipes/external.ts';
import { parseOptionsForNode } from '../recipes/parse.ts';
import type { Recipe } from '../recipes/types.ts';
import { ProcessRuntime } from '../runtimes/process.ts';
import { startFakeGateway, type FakeGateway } from '../testing/fake-gateway.ts';
import { testSigner, type TestSigner } from '../testing/jwt.ts';
import type { Logger } from '../log.ts';

const ENGINE = fileURLToPath(new URL('../testing/engine.js', import.meta.url));
const NODE_ID = 'node-loop';
let dir: string;
// The engine's /health answers 503 until this file exists.
const readyFile = () => join(dir, 'engine-ready');

// The sim recipe's shape with a small engine of this test's own.
const testRecipe: Recipe = {
  name: 'sim',
  runtime: 'process',
  parse: (raw, gpus) => parseOptionsForNode('sim', raw, gpus),
  spec: (_options, ctx) => ({
    instanceId: ctx.instanceId,
    deploymentId: ctx.deploymentId,
    nodeId: ctx.nodeId,
    model: ctx.model,
    command: [process.execPath, ENGINE, '--port', String(ctx.port), '--model', ctx.model],
    env: { ENGINE_READY_FILE: readyFile() },
    port: ctx.port,
    healthPath: '/health',
    metricsPath: '/metrics',
    gpuIndices: ctx.gpuIndices,
    stopGraceSeconds: 2,
  }),
};

const logs: string[] = [];
const log: Logger = {
  info: (m) => logs.push(`info ${m}`),
  warn: (m) => logs.push(`warn ${m}`),
  error: (m) => logs.push(`error ${m}`),
};

let signer: TestSigner;
let gateway: FakeGateway;
let daemon: Daemon;
let runtime: ProcessRuntime;

const desired: DesiredInstance = {
  instance_id: 'inst-sim',
  deployment_id: 'dep-sim',
  model: 'loop-model',
  recipe: 'sim',
  options: { seed: 1 },
  gpus: 0,
};

async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lastReport(instanceId: string) {
  return gateway.heartbeats.at(-1)?.instances.find((i) => i.instance_id === instanceId);
}

async function chat(): Promise<Response> {
  const token = await signer.sign({ aud: NODE_ID, instance: 'inst-sim', model: 'loop-model' });
  return fetch(`${daemon.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'loop-model', messages: [] }),
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-loop-'));
  signer = await testSigner();
  gateway = await startFakeGateway({ jwks: signer.jwks, nodeId: NODE_ID, nodeSecret: 's3cret' });
  const config: NodeConfig = {
    gateway_url: gateway.url,
    node_id: NODE_ID,
    node_secret: 's3cret',
    name: 'loop',
    advertise_url: 'http://127.0.0.1:1',
    issuer: DATA_PLANE_JWT_ISSUER,
    jwks: signer.jwks,
    heartbeat_interval_s: 0.2,
    listen: '127.0.0.1:0',
    model_cache: '/tmp',
    runtime: 'process',
  };
  runtime = new ProcessRuntime();
  await writeConfig(join(dir, 'node.json'), config);
  daemon = await startDaemon({
    config,
    configPath: join(dir, 'node.json'),
    log,
    runtimes: { process: runtime },
    recipes: { sim: testRecipe, external: externalRecipe },
    queryGpus: () => Promise.resolve({ gpus: [] }),
    tickMs: 100,
  });
});

afterAll(async () => {
  await daemon?.close();
  await gateway?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('control loop', () => {
  it('starts a desired engine and reports it starting, then ready', async () => {
    gateway.desired = [desired];
    // Until the engine listens the reason is a refused connection; then its 503.
    const starting = await until('starting', () => {
      const report = lastReport('inst-sim');
      return report?.state === 'starting' && report.detail?.includes('HTTP 503')
        ? report
        : undefined;
    });
    expect(starting.detail).toMatch(/waiting for http:\/\/127\.0\.0\.1:\d+\/health: HTTP 503/);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(503);
    expect((await chat()).status).toBe(503);
    await writeFile(readyFile(), '');
    const ready = await until('ready', () =>
      lastReport('inst-sim')?.state === 'ready' ? lastReport('inst-sim') : undefined,
    );
    expect(ready.restarts).toBe(0);
    expect(gateway.invalid).toEqual([]);
    const res = await chat();
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ model: 'loop-model' });
    // The first heartbeat of the daemon's life reports its version and no GPUs.
    expect(gateway.heartbeats[0]?.gpus).toEqual([]);
    expect((await fetch(`${daemon.url}/readyz`)).status).toBe(200);
  });

  it('restarts a crashed engine and counts the restart', async () => {
    const [engine] = await runtime.list(NODE_ID);
    const pid = Number(engine?.handle);
    process.kill(pid, 'SIGKILL');
    const back = await until('restart', () => {
      const r = lastReport('inst-sim');
      return r?.state === 'ready' && (r.restarts ?? 0) >= 1 ? r : undefined;
    });
    expect(back.restarts).toBe(1);
    expect(logs.some((l) => /inst-sim: engine exited with code 137/.test(l))).toBe(true);
    const [restarted] = await runtime.list(NODE_ID);
    expect(Number(restarted?.handle)).not.toBe(pid);
    const res = await chat();
    expect((await res.json<{ pid: number }>()).pid).toBe(Number(restarted?.handle));
    const metrics = await (await fetch(`${daemon.url}/metrics`)).text();
    expect(metrics).toMatch(/fleetgate_instance_restarts_total\{instance="inst-sim"[^}]*\} 1/);
  });

  it('keeps serving while the gateway is down and catches up when it returns', async () => {
    const port = gateway.port;
    const seen = gateway.heartbeats.length;
    await gateway.close();
    await until('a failed heartbeat', async () => {
      const text = await (await fetch(`${daemon.url}/metrics`)).text();
      return /fleetgate_heartbeat_failures_total [1-9]/.test(text) ? true : undefined;
    });
    expect((await chat()).status).toBe(200);
    expect(logs.filter((l) => l.includes('still serving')).length).toBe(1);

    const previous = gateway;
    gateway = await startFakeGateway({
      jwks: signer.jwks,
      nodeId: NODE_ID,
      nodeSecret: 's3cret',
      port,
    });
    gateway.desired = previous.desired;
    await until('heartbeats to resume', () => (gateway.heartbeats.length > 0 ? true : undefined));
    expect(seen).toBeGreaterThan(0);
    expect(lastReport('inst-sim')?.state).toBe('ready');
    await until('the outage to be logged as over', () =>
      logs.some((l) => l.includes('gateway reachable again')) ? true : undefined,
    );
  });

  it('stops and forgets an engine no longer desired', async () => {
    const [engine] = await runtime.list(NODE_ID);
    const pid = Number(engine?.handle);
    gateway.desired = [];
    await until('the instance to leave the report', () => {
      const last = gateway.heartbeats.at(-1);
      return last && last.instances.length === 0 ? true : undefined;
    });
    await until('the engine to exit', () => (alive(pid) ? undefined : true));
    const token = await signer.sign({ aud: NODE_ID, instance: 'inst-sim' });
    const res = await fetch(`${daemon.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: '{}',
    });
    expect(res.status).toBe(404);
  });

  it('fails an instance it cannot place, with a reason', async () => {
    gateway.desired = [
      { ...desired, instance_id: 'inst-gpu', options: { gpus: 2 }, gpus: 2 },
      { ...desired, instance_id: 'inst-typo', options: { sed: 1 } },
    ];
    const gpu = await until('GPU failure', () =>
      lastReport('inst-gpu')?.state === 'failed' ? lastReport('inst-gpu') : undefined,
    );
    expect(gpu.detail).toMatch(/asks for 2 GPU\(s\) but this node has 0/);
    const typo = await until('option failure', () =>
      lastReport('inst-typo')?.state === 'failed' ? lastReport('inst-typo') : undefined,
    );
    expect(typo.detail).toMatch(/unknown option 'sed'/);
    const readyz = await fetch(`${daemon.url}/readyz`);
    expect(readyz.status).toBe(503);
    gateway.desired = [];
  });

  it('takes rotated signing keys from heartbeat answers and saves them', async () => {
    const next = await testSigner('rotated-key');
    gateway.jwks = next.jwks;
    await until('the new key to be accepted', async () => {
      const token = await next.sign({ aud: NODE_ID, instance: 'none' });
      const res = await fetch(`${daemon.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: '{}',
      });
      // 404: the token was accepted, and names no instance here.
      return res.status === 404 ? true : undefined;
    });
    await until('the config file to hold the new key', async () => {
      const saved = await loadConfig(join(dir, 'node.json'), {});
      return saved.jwks.keys[0]?.kid === 'rotated-key' ? true : undefined;
    });
    signer = next;
  });

  it('stops the engines it runs as processes when it shuts down', async () => {
    gateway.desired = [desired];
    await until('ready', () => (lastReport('inst-sim')?.state === 'ready' ? true : undefined));
    const [engine] = await runtime.list(NODE_ID);
    const pid = Number(engine?.handle);
    expect(alive(pid)).toBe(true);
    await daemon.close();
    expect(alive(pid)).toBe(false);
  });
});
