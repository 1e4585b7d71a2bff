// The packed package, installed from its tarball into an empty folder, runs with no
// TypeScript loader: the CLIs answer --help, the gateway starts and serves, and a node
// joins with one command and serves the engine simulator through the gateway to the
// official OpenAI SDK. Joining again with the same identity makes no second node.
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/processes.ts';
import { adminApi, waitFor, type AdminApi } from '../support/stack.ts';
import { installPackage, packPackage, runProgram, startProgram, type Program } from './package.ts';

const ADMIN_TOKEN = 'dist-admin-token-0123456789';
const MODEL = `dist-sim-${process.pid}`;

let work: string;
let project: string;
let bin: (name: string) => string;
let gateway: Program | undefined;
let gatewayUrl: string;
let admin: AdminApi;
const nodes: Program[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fleetgate-dist-'));
  project = await installPackage(await packPackage(work));
  bin = (name) => join(project, 'node_modules', '.bin', name);
  gateway = startProgram(bin('fleetgate-gateway'), [], {
    cwd: project,
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN_TOKEN,
      FLEETGATE_DB_URL: `file:${join(work, 'db', 'fleetgate.db')}`,
      FLEETGATE_HOST: '127.0.0.1',
      FLEETGATE_PORT: '0',
      FLEETGATE_HEARTBEAT_INTERVAL_S: '1',
    },
  });
  gatewayUrl = (await gateway.waitFor(/listening on (http:\/\/\S+)/))[1] ?? '';
  admin = adminApi(gatewayUrl, ADMIN_TOKEN);
}, 240_000);

afterAll(async () => {
  for (const node of nodes) await node.stop();
  await gateway?.stop();
  for (const dir of [work, project]) if (dir) await rm(dir, { recursive: true, force: true });
});

async function files(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.map(String);
}

describe('the installed package', () => {
  it('holds compiled code only and no TypeScript loader', async () => {
    const installed = join(project, 'node_modules');
    const names = await readdir(installed);
    expect(names).toContain('fleetgate');
    expect(names).not.toContain('tsx');
    const own = await files(join(installed, 'fleetgate'));
    expect(own.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(own).toContain(join('dist', 'schema', 'migrations', 'meta', '_journal.json'));
  });

  it('answers --help from both CLIs', async () => {
    const cli = await runProgram(bin('fleetgate'), ['--help'], { cwd: project });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain('usage: fleetgate <command>');
    const node = await runProgram(bin('fleetgate-node'), ['--help'], { cwd: project });
    expect(node.code, node.stderr).toBe(0);
    expect(node.stdout).toMatch(/^\s+join\s/m);
  });

  it('starts the gateway, which answers /healthz', async () => {
    const res = await fetch(`${gatewayUrl}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });

  it('serves the dashboard built into the package', async () => {
    const page = await fetch(`${gatewayUrl}/ui/`);
    expect(page.status).toBe(200);
    const script = /src="\.\/(app-[A-Z0-9]{8}\.js)"/.exec(await page.text())?.[1];
    expect(script).toBeDefined();
    const js = await fetch(`${gatewayUrl}/ui/${script}`);
    expect(js.status).toBe(200);
    expect((await js.text()).length).toBeGreaterThan(10_000);
  });

  it('joins a node in one command and serves a simulated model through the gateway', async () => {
    const { token } = await admin.request<{ token: string }>('POST', '/registration-tokens', {
      name: 'dist',
      ttl_s: 600,
      uses: 1,
    });
    const port = await freePort();
    const configPath = join(work, 'node', 'node.json');
    const joinArgs = [
      'join',
      '--gateway',
      gatewayUrl,
      '--token',
      token,
      '--name',
      'dist-node',
      '--advertise-url',
      `http://127.0.0.1:${port}`,
      '--listen',
      `127.0.0.1:${port}`,
      '--config',
      configPath,
      '--runtime',
      'process',
    ];
    const env = { FLEETGATE_MODEL_CACHE: join(work, 'models') };
    const first = startProgram(bin('fleetgate-node'), joinArgs, { cwd: project, env });
    nodes.push(first);
    await first.waitFor(/listening on http/);
    expect(first.output()).toMatch(/registered 'dist-node' as \S+/);
    expect(first.output()).not.toMatch(/fgn-/);

    const deployment = await admin.request<{ id: string }>('POST', '/deployments', {
      model: MODEL,
      recipe: 'sim',
      options: { ttft_ms: 5, itl_ms: 1, max_tokens: 16, seed: 7 },
      replicas: 1,
    });
    await waitFor(
      'the simulator to be ready',
      async () => {
        const d = await admin.request<{ instances: { state: string }[] }>(
          'GET',
          `/deployments/${deployment.id}`,
        );
        return d.instances.some((i) => i.state === 'ready') ? true : undefined;
      },
      60_000,
    );
    const { key } = await admin.request<{ key: string }>('POST', '/keys', { name: 'dist' });
    const client = new OpenAI({ baseURL: `${gatewayUrl}/v1`, apiKey: key, maxRetries: 0 });
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello' }],
      max_tokens: 8,
    });
    expect(answer.choices[0]?.message.content?.length).toBeGreaterThan(0);
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);

    // The same command again (the token is used up by now): it only runs the node.
    await first.stop();
    const again = startProgram(bin('fleetgate-node'), joinArgs, { cwd: project, env });
    nodes.push(again);
    await again.waitFor(/listening on http/);
    expect(again.output()).toMatch(/already registered as 'dist-node'/);
    const listed = await runProgram(bin('fleetgate'), ['nodes', 'list', '--json'], {
      cwd: project,
      env: { FLEETGATE_URL: gatewayUrl, FLEETGATE_ADMIN_TOKEN: ADMIN_TOKEN },
    });
    expect(listed.code, listed.stderr).toBe(0);
    const { data } = JSON.parse(listed.stdout) as { data: { name: string }[] };
    expect(data.filter((n) => n.name === 'dist-node')).toHaveLength(1);
  }, 120_000);
});
