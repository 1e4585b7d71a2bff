// Routing through the Node host over real HTTP: the `routing` field of deployments through
// the admin API and the CLI, and circuit breakers seen in the admin API while requests
// fail over from an unreachable node to a working one (official openai SDK as client).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminClient, describeError } from '../../gateway/cli/client.ts';
import { commands } from '../../gateway/cli/commands.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import {
  refusedUrl,
  startFakeEngine,
  type FakeEngine,
} from '../../gateway/src/testing/fake-engine.ts';
import type { Jwks, RegisterResponse } from '../../schema/contracts.ts';

const ADMIN = 'routing-admin-token-0123456';
let dir: string;
let gateway: RunningGateway;

interface Instance {
  id: string;
  node_id: string;
  gateway: {
    in_flight: number;
    circuit: string;
    consecutive_failures: number;
    retry_at: number | null;
  };
}
interface Deployment {
  id: string;
  model: string;
  routing: string;
  instances: Instance[];
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-routing-'));
  gateway = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HOST: '127.0.0.1',
    },
  });
});
afterAll(async () => {
  await gateway.close();
  await rm(dir, { recursive: true, force: true });
});

async function admin<T>(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${gateway.url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json<T>() };
}

async function cli(...args: string[]): Promise<string> {
  const [group, action, ...rest] = args;
  const command = commands[`${group ?? ''} ${action ?? ''}`];
  if (!command) throw new Error(`no command ${args.join(' ')}`);
  const api = adminClient({ url: gateway.url, adminToken: ADMIN });
  return command.run(api, { args: rest, json: rest.includes('--json') });
}

describe('the routing policy of a deployment', () => {
  it('is set on create and changed with the CLI, shown in listings, and checked', async () => {
    const created = JSON.parse(
      await cli(
        'deployments',
        'create',
        '--model',
        'cli-model',
        '--recipe',
        'sim',
        '--replicas',
        '0',
        '--routing',
        'least_load',
        '--json',
      ),
    ) as Deployment;
    expect(created.routing).toBe('least_load');
    const listed = await cli('deployments', 'list');
    expect(listed).toMatch(/ROUTING/);
    expect(listed).toMatch(/least_load/);

    const changed = JSON.parse(
      await cli('deployments', 'route', created.id, '--routing', 'round_robin', '--json'),
    ) as Deployment;
    expect(changed.routing).toBe('round_robin');
    expect((await admin<Deployment>('GET', `/deployments/${created.id}`)).body.routing).toBe(
      'round_robin',
    );

    // As the CLI prints it (main.ts): the API's message names the field.
    const refused = await cli('deployments', 'route', created.id, '--routing', 'fastest').then(
      () => 'accepted',
      (err: unknown) => describeError(err, gateway.url),
    );
    expect(refused).toMatch(/routing/);
    const bad = await admin<{ error: { param: string | null; code: string | null } }>(
      'POST',
      '/deployments',
      { model: 'x', recipe: 'sim', routing: 'random' },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.param).toBe('routing');

    const byApi = await admin<Deployment>('POST', '/deployments', {
      model: 'api-model',
      recipe: 'sim',
      replicas: 0,
    });
    expect(byApi.status).toBe(201);
    expect(byApi.body.routing).toBe('prefix');
    const patched = await admin<Deployment>('PATCH', `/deployments/${byApi.body.id}`, {
      routing: 'least_load',
    });
    expect(patched.body.routing).toBe('least_load');
  });
});

describe('failover and circuit breakers', () => {
  let engine: FakeEngine;
  let jwks: Jwks = { keys: [{}] };

  afterAll(async () => {
    await engine.close();
  });

  async function registerNode(name: string, advertiseUrl: string): Promise<RegisterResponse> {
    const token = await admin<{ token: string }>('POST', '/registration-tokens', { name });
    const res = await fetch(`${gateway.url}/node/v1/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.body.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, advertise_url: advertiseUrl, gpus: [], daemon_version: 'test' }),
    });
    expect(res.status).toBe(201);
    return res.json<RegisterResponse>();
  }

  async function heartbeat(node: RegisterResponse, instances: unknown[]): Promise<void> {
    const res = await fetch(`${gateway.url}/node/v1/heartbeat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.node_secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        daemon_version: 'test',
        gpus: [],
        instances,
        in_flight: 0,
        queued: 0,
      }),
    });
    expect(res.status).toBe(200);
  }

  it('moves requests off an unreachable instance and opens its circuit, shown in the admin API', async () => {
    engine = await startFakeEngine({ jwks: () => jwks });
    const good = await registerNode('good', engine.url);
    jwks = good.jwks;
    const dead = await registerNode('dead', await refusedUrl());
    // One deployment per node, serving one model name (the first one's policy applies).
    const ids: string[] = [];
    for (const node of [good, dead]) {
      await heartbeat(node, []);
      const dep = await admin<Deployment>('POST', '/deployments', {
        model: 'failover-model',
        recipe: 'sim',
        placement: { node_id: node.node_id },
        routing: 'round_robin',
      });
      expect(dep.status).toBe(201);
      const instance = dep.body.instances[0];
      if (!instance) throw new Error(`no instance on ${node.node_id}`);
      ids.push(dep.body.id);
      await heartbeat(node, [
        { instance_id: instance.id, deployment_id: dep.body.id, state: 'ready' },
      ]);
    }
    const [goodDep = '', deadDep = ''] = ids;
    const instanceOf = async (depId: string) =>
      (await admin<Deployment>('GET', `/deployments/${depId}`)).body.instances[0];

    const key = await admin<{ key: string }>('POST', '/keys', { name: 'routing' });
    const client = new OpenAI({
      baseURL: `${gateway.url}/v1`,
      apiKey: key.body.key,
      maxRetries: 0,
    });
    // The routing table is cached for up to 2 s: wait until both instances are in it.
    for (let i = 0; i < 8; i += 1) {
      const completion = await client.chat.completions.create({
        model: 'failover-model',
        messages: [{ role: 'user', content: `hello ${i}` }],
      });
      expect(completion.choices[0]?.message.content).toBeTruthy();
    }
    await expect
      .poll(
        async () => {
          await client.chat.completions.create({
            model: 'failover-model',
            messages: [{ role: 'user', content: 'again' }],
          });
          return (await instanceOf(deadDep))?.gateway.circuit;
        },
        { timeout: 15_000, interval: 200 },
      )
      .toBe('open');
    const deadView = await instanceOf(deadDep);
    const goodView = await instanceOf(goodDep);
    expect(deadView?.gateway.consecutive_failures).toBeGreaterThanOrEqual(3);
    expect(deadView?.gateway.retry_at).toBeGreaterThan(0);
    expect(goodView?.gateway).toMatchObject({ circuit: 'closed', in_flight: 0 });

    // While open, the dead instance gets nothing: every request goes straight to the
    // working one.
    const before = engine.received.length;
    for (let i = 0; i < 4; i += 1) {
      await client.chat.completions.create({
        model: 'failover-model',
        messages: [{ role: 'user', content: `after ${i}` }],
      });
    }
    expect(engine.received.length - before).toBe(4);
    expect((await instanceOf(deadDep))?.gateway.consecutive_failures).toBe(
      deadView?.gateway.consecutive_failures,
    );
  });
});
