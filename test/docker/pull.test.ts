// Image pulls for real, from a registry on 127.0.0.1 (test/docker/registry.ts): progress
// reaches the start hooks as bytes and percent, and a container that cannot start is
// removed again with Docker's reason in the error.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime, LABELS } from '../../gpu-node/src/runtimes/docker/index.ts';
import type { PullProgress } from '../../gpu-node/src/runtimes/types.ts';
import { dockerAvailability } from './docker-env.ts';
import { startTestRegistry, type TestRegistry } from './registry.ts';

const env = await dockerAvailability();
const nodeId = `pull-node-${randomBytes(4).toString('hex')}`;
const tag = randomBytes(4).toString('hex');

describe.skipIf(!env.reachable)('docker runtime image pulls', () => {
  const docker = env.docker;
  const runtime = new DockerRuntime({ docker, pullTimeoutMs: 60_000 });
  let registry: TestRegistry;
  let image = '';

  beforeAll(async () => {
    registry = await startTestRegistry('fleetgate-test/engine', tag, 3 * 1024 * 1024);
    image = `${registry.host}/fleetgate-test/engine:${tag}`;
  });

  afterAll(async () => {
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.nodeId}=${nodeId}`] },
    });
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
    await docker
      .getImage(image)
      .remove({ force: true })
      .catch(() => undefined);
    await registry.close();
  });

  it('pulls a missing image with progress, then fails a container that cannot start', async () => {
    const progress: PullProgress[] = [];
    const logs: string[] = [];
    const spec = {
      instanceId: `pull-${tag}`,
      deploymentId: 'dep-pull',
      nodeId,
      model: 'm',
      image,
      command: [],
      env: {},
      port: 1,
      healthPath: '/health',
      gpuIndices: [],
    };
    await expect(
      runtime.start(spec, { onPullProgress: (p) => progress.push(p), onLog: (l) => logs.push(l) }),
    ).rejects.toThrow(/cannot start container fleetgate-pull-\w+: .*no-such-engine/);

    expect(await runtime.imagePresent(image)).toBe(true);
    expect(progress[0]).toEqual({ bytes: 0 });
    const sized = progress.filter((p) => p.totalBytes !== undefined);
    expect(sized.length).toBeGreaterThan(0);
    expect(sized.every((p) => p.totalBytes === registry.layerBytes)).toBe(true);
    expect(sized.at(-1)).toEqual({
      bytes: registry.layerBytes,
      totalBytes: registry.layerBytes,
      percent: 100,
    });
    const bytes = progress.map((p) => p.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(logs[0]).toBe(`pulling image ${image}`);
    expect(logs).toContain(`pulled image ${image}`);
    // The failed container is not left behind for the daemon's retry to trip over.
    expect(await runtime.list(nodeId)).toEqual([]);

    // Present now: a second start pulls nothing.
    const again: PullProgress[] = [];
    await expect(runtime.start(spec, { onPullProgress: (p) => again.push(p) })).rejects.toThrow(
      /cannot start container/,
    );
    expect(again).toEqual([]);
  }, 90_000);
});
