// The docker runtime against a real Docker Engine, with the engine simulator image built
// locally (test/docker/image.ts): pull skip, a failing pull, the created container, health,
// traffic, logs, list, adoption by a second runtime, stop and remove.
import { randomBytes } from 'node:crypto';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DockerRuntime, LABELS } from '../../gpu-node/src/runtimes/docker/index.ts';
import type { EngineSpec, PullProgress } from '../../gpu-node/src/runtimes/types.ts';
import { simRecipe } from '../../gpu-node/src/recipes/sim.ts';
import { freePort } from '../support/processes.ts';
import { dockerAvailability } from './docker-env.ts';
import { buildSimImage } from './image.ts';

const env = await dockerAvailability();
const nodeId = `test-node-${randomBytes(4).toString('hex')}`;
const volume = `fleetgate-models-test-${randomBytes(4).toString('hex')}`;

async function waitHealthy(url: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not healthy in ${timeoutMs} ms: ${last}`);
}

describe.skipIf(!env.reachable)('docker runtime', () => {
  const docker = env.docker;
  const runtime = new DockerRuntime({ docker, pullTimeoutMs: 30_000 });
  let image = '';
  let spec: EngineSpec;
  let handle = '';

  beforeAll(async () => {
    image = await buildSimImage(docker);
    const port = await freePort();
    const { options } = simRecipe.parse({ image, seed: 3, ttft_ms: 5, itl_ms: 1 }, 0);
    spec = {
      ...simRecipe.spec(options, {
        nodeId,
        instanceId: `inst-${randomBytes(4).toString('hex')}`,
        deploymentId: 'dep-docker-test',
        model: 'sim-docker',
        gpuIndices: [],
        port,
        modelCache: volume,
      }),
      volumes: [{ source: volume, target: '/models' }],
      shmSizeBytes: 256 * 1024 * 1024,
      labels: { 'dev.fleetgate.spec-hash': 'abc123' },
    };
  }, 120_000);

  afterAll(async () => {
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.nodeId}=${nodeId}`] },
    });
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
    await docker
      .getVolume(volume)
      .remove()
      .catch(() => undefined);
  });

  it('fails a pull of a missing image with a clear error (no registry is reachable)', async () => {
    const progress: PullProgress[] = [];
    const missing = `fleetgate-test/not-here:${randomBytes(4).toString('hex')}`;
    await expect(
      runtime.start(
        { ...spec, instanceId: 'never-created', image: missing },
        { onPullProgress: (p) => progress.push(p) },
      ),
    ).rejects.toThrow(new RegExp(`cannot pull image ${missing.replace(/[/.]/g, '\\$&')}: `));
    // The instance was reported as pulling, and no container was left behind.
    expect(progress.length).toBeGreaterThan(0);
    expect(await runtime.inspect('fleetgate-never-created')).toBeUndefined();
  }, 60_000);

  it('skips the pull when the image is present and creates the labelled container', async () => {
    const progress: PullProgress[] = [];
    const logs: string[] = [];
    const status = await runtime.start(spec, {
      onPullProgress: (p) => progress.push(p),
      onLog: (l) => logs.push(l),
    });
    handle = status.handle;
    expect(progress).toEqual([]);
    expect(logs.filter((l) => l.includes('pull'))).toEqual([]);
    expect(status).toMatchObject({
      instanceId: spec.instanceId,
      deploymentId: 'dep-docker-test',
      state: 'running',
      port: spec.port,
      gpuIndices: [],
    });

    const info = await docker.getContainer(handle).inspect();
    expect(info.Name).toBe(`/fleetgate-${spec.instanceId}`);
    expect(info.Config.Image).toBe(image);
    expect(info.Config.Cmd).toEqual(spec.command);
    expect(info.Config.Labels).toMatchObject({
      'dev.fleetgate.managed': 'true',
      'dev.fleetgate.node-id': nodeId,
      'dev.fleetgate.deployment-id': 'dep-docker-test',
      'dev.fleetgate.instance-id': spec.instanceId,
      'dev.fleetgate.model': 'sim-docker',
      'dev.fleetgate.port': String(spec.port),
      'dev.fleetgate.spec-hash': 'abc123',
    });
    expect(info.HostConfig.NetworkMode).toBe('host');
    expect(info.HostConfig.ShmSize).toBe(256 * 1024 * 1024);
    expect(info.HostConfig.RestartPolicy?.Name).toBe('no');
    expect(info.HostConfig.DeviceRequests ?? []).toEqual([]);
    expect(info.Mounts).toEqual([
      expect.objectContaining({ Type: 'volume', Name: volume, Destination: '/models' }),
    ]);
  }, 60_000);

  it('serves the simulator from the container once healthy, and has its logs', async () => {
    await waitHealthy(`http://127.0.0.1:${spec.port}${spec.healthPath}`);
    const client = new OpenAI({ baseURL: `http://127.0.0.1:${spec.port}/v1`, apiKey: 'unused' });
    const answer = await client.chat.completions.create({
      model: 'sim-docker',
      messages: [{ role: 'user', content: 'hello from a container' }],
      max_tokens: 8,
    });
    expect(answer.model).toBe('sim-docker');
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);

    const lines = await runtime.logs(handle, 50);
    expect(lines.some((l) => l.includes(`listening on http://127.0.0.1:${spec.port}`))).toBe(true);
    expect(await runtime.logs(handle, 1)).toHaveLength(1);
  }, 60_000);

  it('follows its logs (Docker follow mode) until the follower hangs up', async () => {
    const hangUp = new AbortController();
    const seen: string[] = [];
    const listening = new Promise<void>((resolve) => {
      const following = runtime.followLogs(
        handle,
        50,
        (line) => {
          seen.push(line);
          if (line.includes('listening on')) resolve();
        },
        hangUp.signal,
      );
      void following.then(() => seen.push('<ended>'));
    });
    await listening;
    hangUp.abort();
    await vi.waitFor(() => expect(seen.at(-1)).toBe('<ended>'));
  }, 60_000);

  it("lists the node's containers and adopts the running one after a daemon restart", async () => {
    const listed = await runtime.list(nodeId);
    expect(listed.map((s) => s.handle)).toEqual([handle]);
    expect(listed[0]).toMatchObject({ state: 'running', port: spec.port });
    expect(await runtime.list(`${nodeId}-other`)).toEqual([]);

    // A restarted daemon starts the same instance on a port it just chose: the running
    // container is kept (with its own port), not duplicated.
    const restarted = new DockerRuntime({ docker });
    const again = await restarted.start({ ...spec, port: spec.port + 1 });
    expect(again.handle).toBe(handle);
    expect(again.port).toBe(spec.port);
    const same = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.instanceId}=${spec.instanceId}`] },
    });
    expect(same).toHaveLength(1);
  }, 60_000);

  it('stops with a grace period, restarts a stopped container on start, and removes it', async () => {
    await runtime.stop(handle, 5);
    const stopped = await runtime.inspect(handle);
    // The simulator exits cleanly on SIGTERM.
    expect(stopped).toMatchObject({ state: 'exited', exitCode: 0 });
    expect((await runtime.list(nodeId))[0]).toMatchObject({ state: 'exited', exitCode: 0 });
    await runtime.stop(handle, 5); // idempotent

    const restarted = await runtime.start(spec);
    expect(restarted).toMatchObject({ handle, state: 'running' });

    await runtime.stop(handle, 5);
    await runtime.remove(handle);
    await runtime.remove(handle); // idempotent
    expect(await runtime.inspect(handle)).toBeUndefined();
    expect(await runtime.list(nodeId)).toEqual([]);
    expect(await runtime.logs(handle, 10)).toEqual([]);
    // The shared model cache outlives its containers.
    const vol = await docker.getVolume(volume).inspect();
    expect(vol.Name).toBe(volume);
  }, 60_000);

  it('replaces a container whose spec changed instead of adopting it', async () => {
    const first = await runtime.start(spec);
    const changed = await runtime.start({
      ...spec,
      labels: { 'dev.fleetgate.spec-hash': 'def456' },
    });
    expect(changed.handle).not.toBe(first.handle);
    expect(await runtime.inspect(first.handle)).toBeUndefined();
    await runtime.stop(changed.handle, 2);
    await runtime.remove(changed.handle);
  }, 60_000);
});
