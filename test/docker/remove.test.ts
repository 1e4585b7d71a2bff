// remove() takes a container's anonymous volumes with it (an engine image's VOLUME would
// otherwise leave one behind on every restart) and never a named volume such as the
// node's shared model cache.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DockerRuntime } from '../../gpu-node/src/runtimes/docker/index.ts';
import { dockerAvailability } from './docker-env.ts';
import { buildSimImage } from './image.ts';

const env = await dockerAvailability();
const named = `fleetgate-models-remove-${randomBytes(4).toString('hex')}`;

describe.skipIf(!env.reachable)('docker runtime: remove', () => {
  const docker = env.docker;
  const runtime = new DockerRuntime({ docker });
  const volumes = [named];

  afterAll(async () => {
    for (const v of volumes) {
      await docker
        .getVolume(v)
        .remove()
        .catch(() => undefined);
    }
  });

  it('removes anonymous volumes with the container and keeps the named one', async () => {
    const image = await buildSimImage(docker);
    const container = await docker.createContainer({
      Image: image,
      Volumes: { '/scratch': {} },
      HostConfig: { Mounts: [{ Type: 'volume', Source: named, Target: '/models' }] },
    });
    const info = await container.inspect();
    const anonymous = info.Mounts.find((m) => m.Destination === '/scratch')?.Name ?? '';
    expect(anonymous).not.toBe('');
    volumes.push(anonymous);

    await runtime.remove(container.id);
    expect(await runtime.inspect(container.id)).toBeUndefined();
    await expect(docker.getVolume(anonymous).inspect()).rejects.toMatchObject({
      statusCode: 404,
    });
    expect((await docker.getVolume(named).inspect()).Name).toBe(named);
  }, 120_000);
});
