// Per-node data-plane keys on the Cloudflare host, inside workerd: Web Crypto's HKDF there
// derives the same keys as the Node host (the fixed vector), the registration answer carries
// the node's key, and once the node's heartbeat reports it, the Worker signs that node's
// forwarded requests HS256 with it; before, and after a heartbeat without it, ES256.
import { env, exports } from 'cloudflare:workers';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSigner } from '../../gateway/src/signing/signer.ts';
import {
  DATA_PLANE_JWT_ISSUER,
  HeartbeatResponseSchema,
  RegisterResponseSchema,
  type RegisterResponse,
} from '../../schema/contracts.ts';
import { VECTOR_JWK, VECTOR_KEY, VECTOR_NODE } from '../support/data-plane-vector.ts';
import type { SeenRequest } from './upstream.ts';

const ORIGIN = 'http://fleetgate.test';
const MODEL = 'worker-keyed-model';

async function call(method: string, path: string, token: string, body?: unknown) {
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    requestId: res.headers.get('x-request-id'),
    body: (text ? JSON.parse(text) : null) as unknown,
  };
}
const admin = (method: string, path: string, body?: unknown) =>
  call(method, `/admin/v1${path}`, env.FLEETGATE_ADMIN_TOKEN, body);

let node: RegisterResponse;
let apiKey: string;
let ready: unknown[];

const heartbeat = async (keyId: string | undefined) => {
  const res = await call('POST', '/node/v1/heartbeat', node.node_secret, {
    daemon_version: 'worker-test',
    gpus: [],
    instances: ready,
    in_flight: 0,
    queued: 0,
    ...(keyId === undefined ? {} : { data_plane_key_id: keyId }),
  });
  expect(res.status).toBe(200);
  return HeartbeatResponseSchema.parse(res.body);
};

// The token the upstream node received for one chat completion through the Worker.
async function forwardedToken(): Promise<string> {
  const res = await call('POST', '/v1/chat/completions', apiKey, {
    model: MODEL,
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(res.status).toBe(200);
  const seen = await (await fetch(`${env.UPSTREAM_URL}/_test/requests`)).json<SeenRequest[]>();
  const forwarded = seen.filter((r) => r.requestId === res.requestId);
  expect(forwarded).toHaveLength(1);
  return /^Bearer (.+)$/.exec(forwarded[0]?.authorization ?? '')?.[1] ?? '';
}

beforeAll(async () => {
  const key = await admin('POST', '/keys', { name: 'worker-keyed' });
  apiKey = (key.body as { key: string }).key;
  const token = await admin('POST', '/registration-tokens', { name: 'keyed', ttl_s: 600 });
  const registered = await call(
    'POST',
    '/node/v1/register',
    (token.body as { token: string }).token,
    { name: 'worker-keyed-node', advertise_url: env.UPSTREAM_URL, gpus: [], daemon_version: 't' },
  );
  expect(registered.status).toBe(201);
  node = RegisterResponseSchema.parse(registered.body);
  const deployment = await admin('POST', '/deployments', {
    model: MODEL,
    recipe: 'external',
    options: { url: env.UPSTREAM_URL },
    placement: { node_id: node.node_id },
    replicas: 1,
  });
  const deploymentId = (deployment.body as { id: string }).id;
  ready = [];
  const desired = (await heartbeat(undefined)).desired.find(
    (d) => d.deployment_id === deploymentId,
  );
  if (!desired) throw new Error('the deployment was not placed on the node');
  ready = [{ instance_id: desired.instance_id, deployment_id: deploymentId, state: 'ready' }];
});

describe('per-node data-plane keys in workerd', () => {
  it('derives the same keys as the Node host', async () => {
    const signer = await createSigner(VECTOR_JWK);
    expect(await signer.nodeKey(VECTOR_NODE)).toEqual({ kid: VECTOR_JWK.kid, key: VECTOR_KEY });
  });

  it('hands the node its key and signs HS256 with it once the node holds it', async () => {
    const key = node.data_plane_key;
    if (!key) throw new Error('the registration answer has no data-plane key');
    expect(key.kid).toBe(node.jwks.keys[0]?.kid);
    expect((await heartbeat(undefined)).data_plane_key).toEqual(key);

    const before = await forwardedToken();
    expect(decodeProtectedHeader(before).alg).toBe('ES256');
    await jwtVerify(before, createLocalJWKSet(node.jwks), { issuer: DATA_PLANE_JWT_ISSUER });

    await heartbeat(key.kid);
    const keyed = await forwardedToken();
    const secret = Uint8Array.from(atob(key.key.replace(/-/g, '+').replace(/_/g, '/')), (c) =>
      c.charCodeAt(0),
    );
    const { payload, protectedHeader } = await jwtVerify(keyed, secret, {
      issuer: DATA_PLANE_JWT_ISSUER,
      audience: node.node_id,
      algorithms: ['HS256'],
    });
    expect(protectedHeader).toMatchObject({ alg: 'HS256', kid: key.kid });
    expect(payload).toMatchObject({ model: MODEL, scope: 'inference' });

    await heartbeat(undefined);
    expect(decodeProtectedHeader(await forwardedToken()).alg).toBe('ES256');
  });
});
