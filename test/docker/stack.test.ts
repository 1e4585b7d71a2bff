// The whole path with the docker runtime: a real gateway and gpu-node daemon, a `sim`
// deployment whose image is the locally built simulator image, traffic through the
// gateway, logs through the admin API, a daemon restart that adopts the running container,
// deletion that removes it, and an image pull shown as `pulling` with its progress.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABELS } from '../../gpu-node/src/runtimes/docker/index.ts';
import {
  createDeployment,
  runNode,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Deployment,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';
import { dockerAvailability } from './docker-env.ts';
import { buildSimImage } from './image.ts';
import { startTestRegistry } from './registry.ts';

const env = await dockerAvailability();
const MODEL = `docker-sim-${process.pid}`;

describe.skipIf(!env.reachable)('a docker deployment through the gateway', () => {
  const docker = env.docker;
  let dir = '';
  let gateway: Gateway | undefined;
  let node: GpuNode | undefined;
  let deployment: Deployment;
  let client: OpenAI;

  async function containers() {
    return docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.managed}=true`, `${LABELS.nodeId}=${node?.nodeId ?? '-'}`] },
    });
  }

  beforeAll(async () => {
    const image = await buildSimImage(docker);
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-docker-e2e-'));
    gateway = await startGateway({
      dataDir: dir,
      adminToken: 'docker-e2e-admin-token-0123456789',
      heartbeatIntervalS: 1,
    });
    node = await startNode({
      gateway,
      name: 'docker-node',
      configPath: join(dir, 'node.json'),
      env: { FLEETGATE_MODEL_CACHE: join(dir, 'models') },
    });
    deployment = await createDeployment(gateway, {
      model: MODEL,
      recipe: 'sim',
      options: { image, ttft_ms: 5, itl_ms: 1, max_tokens: 16, seed: 9 },
      replicas: 1,
    });
    const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'docker' });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 });
  }, 120_000);

  afterAll(async () => {
    await node?.service.stop();
    await gateway?.service.stop();
    for (const c of await containers().catch(() => [])) {
      await docker.getContainer(c.Id).remove({ force: true });
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts the container, serves chat through the gateway, and shows its logs', async () => {
    const gw = gateway as Gateway;
    await waitForReady(gw, deployment.id, 90_000);
    const running = await containers();
    expect(running).toHaveLength(1);
    expect(running[0]?.Labels[LABELS.deploymentId]).toBe(deployment.id);
    expect(running[0]?.HostConfig.NetworkMode).toBe('host');

    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello docker' }],
      max_tokens: 8,
    });
    expect(answer.model).toBe(MODEL);
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);

    const logs = await gw.admin.request<{ data: string[] }>(
      'GET',
      `/deployments/${deployment.id}/logs?tail=20`,
    );
    expect(logs.data.some((l) => l.includes('fleetgate-sim') && l.includes('listening on'))).toBe(
      true,
    );
  }, 120_000);

  it('adopts the running container after a daemon restart instead of starting another', async () => {
    const gw = gateway as Gateway;
    const before = await containers();
    expect(before).toHaveLength(1);
    const first = node as GpuNode;
    await first.service.stop();
    // The container outlives its daemon: a daemon upgrade does not reload the model.
    expect((await containers()).map((c) => [c.Id, c.State])).toEqual([[before[0]?.Id, 'running']]);

    node = await runNode({
      name: 'docker-node',
      configPath: first.configPath,
      port: Number(new URL(first.url).port),
      nodeId: first.nodeId,
    });
    const restarted = node;
    // The gateway's view is a heartbeat old; the new daemon says when the adopted engine
    // passed its health check.
    await waitFor(
      'the adopted engine to be ready',
      () => Promise.resolve(/instance \S+: ready/.test(restarted.service.output()) || undefined),
      60_000,
    );
    await waitForReady(gw, deployment.id, 60_000);
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'still there?' }],
      max_tokens: 4,
    });
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
    const after = await containers();
    expect(after.map((c) => [c.Id, c.State])).toEqual([[before[0]?.Id, 'running']]);
    expect(node.service.output()).toMatch(/adopting docker engine/);
  }, 120_000);

  it('removes the container when the deployment is deleted', async () => {
    const gw = gateway as Gateway;
    await gw.admin.request('DELETE', `/deployments/${deployment.id}`);
    await waitFor(
      'the container to be removed',
      async () => ((await containers()).length === 0 ? true : undefined),
      60_000,
    );
  }, 90_000);
  it('reports a pull as pulling with its progress, then why the engine cannot start', async () => {
    const gw = gateway as Gateway;
    const tag = `t${process.pid}`;
    const registry = await startTestRegistry('fleetgate-test/slow', tag, 4 * 1024 * 1024, {
      hold: true,
    });
    const image = `${registry.host}/fleetgate-test/slow:${tag}`;
    try {
      const pulling = await createDeployment(gw, {
        model: `${MODEL}-pull`,
        recipe: 'sim',
        options: { image },
        replicas: 1,
      });
      type Row = { state: string; detail?: string | null };
      const instance = async (): Promise<Row | undefined> => {
        const d = await gw.admin.request<Deployment>('GET', `/deployments/${pulling.id}`);
        return d.instances[0];
      };
      // The registry holds the layer halfway, so the pull is still under way here.
      const seen = await waitFor(
        'the instance to report its pull',
        async () => {
          const i = await instance();
          return i?.state === 'pulling' && /MB of .* MB \(\d+%\)/.test(i.detail ?? '')
            ? i
            : undefined;
        },
        60_000,
      );
      expect(seen.detail).toMatch(/^pulling: \d+\.\d MB of 4\.\d MB \(\d+%\)/);
      registry.release();
      const failed = await waitFor(
        'the instance to fail',
        async () => {
          const i = await instance();
          return i?.state === 'failed' ? i : undefined;
        },
        60_000,
      );
      expect(failed.detail).toMatch(/cannot start container .*no-such-engine/);
      await gw.admin.request('DELETE', `/deployments/${pulling.id}`);
    } finally {
      await registry.close();
      await docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }, 120_000);
});
