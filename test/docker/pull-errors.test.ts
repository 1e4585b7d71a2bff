// A pull that fails after it started: Docker answers 200 and reports the failure as an
// event in the progress stream. The runtime must fail with Docker's reason, not with a
// guess, and leave no container behind.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerRuntime, LABELS } from '../../gpu-node/src/runtimes/docker/index.ts';
import { dockerAvailability } from './docker-env.ts';
import { startTestRegistry, type TestRegistry } from './registry.ts';

const env = await dockerAvailability();
const nodeId = `pull-errors-${randomBytes(4).toString('hex')}`;
const tag = randomBytes(4).toString('hex');

describe.skipIf(!env.reachable)('docker runtime: a pull failing mid-stream', () => {
  const docker = env.docker;
  const runtime = new DockerRuntime({ docker, pullTimeoutMs: 60_000 });
  let registry: TestRegistry;

  beforeAll(async () => {
    registry = await startTestRegistry('fleetgate-test/corrupt', tag, 256 * 1024, {
      corrupt: true,
    });
  });

  afterAll(async () => {
    const left = await docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.nodeId}=${nodeId}`] },
    });
    for (const c of left) await docker.getContainer(c.Id).remove({ force: true });
    await registry.close();
  });

  it("fails with the Engine's reason when a layer does not match its digest", async () => {
    const image = `${registry.host}/fleetgate-test/corrupt:${tag}`;
    await expect(
      runtime.start({
        instanceId: `corrupt-${tag}`,
        deploymentId: 'dep-corrupt',
        nodeId,
        model: 'm',
        image,
        command: [],
        env: {},
        port: 1,
        healthPath: '/health',
        gpuIndices: [],
      }),
    ).rejects.toThrow(/cannot pull image .*: .*(verification failed|digest|checksum)/i);
    expect(await runtime.imagePresent(image)).toBe(false);
    expect(await runtime.list(nodeId)).toEqual([]);
  }, 60_000);
});
