// The routing policies on the Worker host (workerd, D1): two instances of one model behind
// the same upstream "node"; which instance each request went to is read from the JWT the
// Worker signed for it.
import { env, exports } from 'cloudflare:workers';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SeenRequest } from './upstream.ts';

const ORIGIN = 'http://fleetgate.test';
const MODEL = 'worker-routing-model';

async function call<T>(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

const admin = <T>(method: string, path: string, body?: unknown) =>
  call<T>(method, `/admin/v1${path}`, { token: env.FLEETGATE_ADMIN_TOKEN, body });

let apiKey: string;
const deploymentIds: string[] = [];

beforeAll(async () => {
  apiKey = (await admin<{ key: string }>('POST', '/keys', { name: 'worker-routing' })).body.key;
  const token = await admin<{ token: string }>('POST', '/registration-tokens', {
    name: 'worker-routing-node',
  });
  const registered = await call<{ node_id: string; node_secret: string }>(
    'POST',
    '/node/v1/register',
    {
      token: token.body.token,
      body: {
        name: 'worker-routing-node',
        advertise_url: env.UPSTREAM_URL,
        gpus: [],
        daemon_version: 'worker-test',
      },
    },
  );
  expect(registered.status).toBe(201);
  const { node_id: nodeId, node_secret: secret } = registered.body;
  const heartbeat = (instances: unknown[]) =>
    call<{ desired: { instance_id: string; deployment_id: string }[] }>(
      'POST',
      '/node/v1/heartbeat',
      {
        token: secret,
        body: { daemon_version: 'worker-test', gpus: [], instances, in_flight: 0, queued: 0 },
      },
    );
  for (let i = 0; i < 2; i += 1) {
    const dep = await admin<{ id: string }>('POST', '/deployments', {
      model: MODEL,
      recipe: 'external',
      options: { url: env.UPSTREAM_URL },
      placement: { node_id: nodeId },
    });
    expect(dep.status).toBe(201);
    deploymentIds.push(dep.body.id);
  }
  const desired = (await heartbeat([])).body.desired.filter((d) =>
    deploymentIds.includes(d.deployment_id),
  );
  expect(desired).toHaveLength(2);
  await heartbeat(desired.map((d) => ({ ...d, state: 'ready' })));
});

async function setPolicy(routing: string): Promise<void> {
  for (const id of deploymentIds) {
    const res = await admin<{ routing: string }>('PATCH', `/deployments/${id}`, { routing });
    expect(res.body.routing).toBe(routing);
  }
}

// Sends one chat request; answers the instance the Worker sent it to.
async function routedTo(content: string): Promise<string> {
  const res = await exports.default.fetch(`${ORIGIN}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }] }),
  });
  expect(res.status).toBe(200);
  const requestId = res.headers.get('x-request-id');
  await res.text();
  const seen = await (await fetch(`${env.UPSTREAM_URL}/_test/requests`)).json<SeenRequest[]>();
  const jwt = seen.find((r) => r.requestId === requestId)?.authorization?.slice('Bearer '.length);
  const instance = jwt ? decodeJwt(jwt).instance : undefined;
  if (typeof instance !== 'string') throw new Error(`request ${requestId} not seen upstream`);
  return instance;
}

describe('routing policies on the Worker host', () => {
  it('round_robin alternates, prefix keeps a prefix on one instance, least_load serves', async () => {
    await setPolicy('round_robin');
    const rotation = [await routedTo('a'), await routedTo('b'), await routedTo('c')];
    expect(new Set(rotation).size).toBe(2);
    expect(rotation[0]).toBe(rotation[2]);

    await setPolicy('prefix');
    const shared = 'You are the support assistant of ACME. '.repeat(40);
    const prefixed = [];
    for (const q of ['one', 'two', 'three', 'four']) prefixed.push(await routedTo(`${shared}${q}`));
    expect(new Set(prefixed).size).toBe(1);

    await setPolicy('least_load');
    expect(typeof (await routedTo('least'))).toBe('string');

    const shown = await admin<{ instances: { gateway: { circuit: string; in_flight: number } }[] }>(
      'GET',
      `/deployments/${deploymentIds[0] ?? ''}`,
    );
    expect(shown.body.instances[0]?.gateway).toMatchObject({ circuit: 'closed', in_flight: 0 });
  });
});
