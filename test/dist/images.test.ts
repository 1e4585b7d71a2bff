// The two images of docker/, built with no registry (see images.ts) and run as the README
// says: the gateway image serves /healthz with its database in a named volume, and the
// node image joins it with one `docker run … join --gateway … --token …` and serves the
// engine simulator (process runtime inside the container) through the gateway to the
// official OpenAI SDK. Restarted, the node container only runs: no second node.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerAvailability } from '../docker/docker-env.ts';
import { freePort } from '../support/processes.ts';
import { adminApi, waitFor, type AdminApi } from '../support/stack.ts';
import { buildImages } from './images.ts';

const run = promisify(execFile);
const env = await dockerAvailability();
const ADMIN_TOKEN = 'image-admin-token-0123456789';
const MODEL = `image-sim-${process.pid}`;
const suffix = `${process.pid}-${Date.now()}`;

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await run('docker', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout.trim();
}

async function logs(container: string): Promise<string> {
  const { stdout, stderr } = await run('docker', ['logs', container], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}

describe.skipIf(!env.reachable)('the container images', () => {
  // Named, so that afterAll removes them even when `docker run` failed after creating one.
  const gatewayName = `fleetgate-gateway-${suffix}`;
  const nodeName = `fleetgate-node-${suffix}`;
  const volumes = [`fleetgate-gateway-${suffix}`, `fleetgate-node-${suffix}`];
  let gatewayUrl = '';
  let admin: AdminApi;
  let gatewayContainer = '';
  let nodeImage = '';

  beforeAll(async () => {
    const images = await buildImages();
    nodeImage = images.node;
    const port = await freePort();
    gatewayUrl = `http://127.0.0.1:${port}`;
    gatewayContainer = await docker(
      'run',
      '-d',
      '--name',
      gatewayName,
      '--network',
      'host',
      '-v',
      `${volumes[0]}:/var/lib/fleetgate`,
      '-e',
      `FLEETGATE_ADMIN_TOKEN=${ADMIN_TOKEN}`,
      '-e',
      'FLEETGATE_HOST=127.0.0.1',
      '-e',
      `FLEETGATE_PORT=${port}`,
      '-e',
      'FLEETGATE_HEARTBEAT_INTERVAL_S=1',
      images.gateway,
    );
    admin = adminApi(gatewayUrl, ADMIN_TOKEN);
    await waitFor(
      'the gateway container to listen',
      async () => ((await fetch(`${gatewayUrl}/healthz`)).ok ? true : undefined),
      60_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await logs(gatewayContainer)}`);
    });
  }, 900_000);

  afterAll(async () => {
    for (const container of [nodeName, gatewayName])
      await docker('rm', '-f', container).catch(() => '');
    for (const volume of volumes) await docker('volume', 'rm', '-f', volume).catch(() => '');
  });

  it('runs the gateway as a non-root user with its database in the volume', async () => {
    const res = await fetch(`${gatewayUrl}/healthz`);
    expect(await res.json()).toMatchObject({ status: 'ok' });
    expect(await docker('exec', gatewayContainer, 'node', '-p', 'process.getuid()')).toBe('1000');
    const listing = await docker(
      'exec',
      gatewayContainer,
      'node',
      '-p',
      "require('node:fs').readdirSync('/var/lib/fleetgate').join(',')",
    );
    expect(listing.split(',')).toContain('fleetgate.db');
  });

  it('joins a node with one docker run and serves a simulated model through the gateway', async () => {
    const { token } = await admin.request<{ token: string }>('POST', '/registration-tokens', {
      name: 'image',
      ttl_s: 600,
      uses: 1,
    });
    const nodePort = await freePort();
    const node = await docker(
      'run',
      '-d',
      '--name',
      nodeName,
      '--network',
      'host',
      '-v',
      `${volumes[1]}:/var/lib/fleetgate`,
      nodeImage,
      'join',
      '--gateway',
      gatewayUrl,
      '--token',
      token,
      '--name',
      'image-node',
      '--advertise-url',
      `http://127.0.0.1:${nodePort}`,
      '--runtime',
      'process',
    );
    const listening = async () => ((await logs(node)).includes('listening on') ? true : undefined);
    await waitFor('the node container to listen', listening, 60_000).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await logs(node)}`);
    });
    expect(await logs(node)).toMatch(/registered 'image-node' as \S+/);

    const deployment = await admin.request<{ id: string }>('POST', '/deployments', {
      model: MODEL,
      recipe: 'sim',
      options: { ttft_ms: 5, itl_ms: 1, max_tokens: 16, seed: 3 },
      replicas: 1,
    });
    await waitFor(
      'the simulator in the node container to be ready',
      async () => {
        const d = await admin.request<{ instances: { state: string }[] }>(
          'GET',
          `/deployments/${deployment.id}`,
        );
        return d.instances.some((i) => i.state === 'ready') ? true : undefined;
      },
      90_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}\n${await logs(node)}`);
    });
    const { key } = await admin.request<{ key: string }>('POST', '/keys', { name: 'image' });
    const client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: key, maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello from a container' }],
      max_tokens: 8,
      stream: true,
    });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text.length).toBeGreaterThan(0);

    // The same container restarted (same command, token used up): it only runs.
    await docker('restart', '-t', '10', node);
    await waitFor(
      'the restarted node to run its identity',
      async () => ((await logs(node)).includes('already registered as') ? true : undefined),
      60_000,
    );
    const nodes = await admin.request<{ data: { name: string }[] }>('GET', '/nodes');
    expect(nodes.data.filter((n) => n.name === 'image-node')).toHaveLength(1);
  }, 300_000);
});
