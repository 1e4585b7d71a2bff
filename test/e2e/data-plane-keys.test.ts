// Per-node data-plane keys end to end: a real Node-host gateway and two gpu-node daemons
// registered with real registration tokens. Node A's requests pass through a recording
// pass-through (its advertise URL), so the test sees the tokens the gateway sends it: HS256
// with A's own key once A's heartbeat reported it. Then tokens sent to the daemons directly:
// A's key is refused by B, an HMAC keyed with the public JWK is refused, ES256 still passes,
// a wrong kid, an expired token and a replay get 401. The key appears in no log and in no
// admin API answer.
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import http, { type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeSigner } from '../../gateway/src/signing/node-signer.ts';
import type { DataPlaneSigner } from '../../gateway/src/signing/node-keys.ts';
import {
  DATA_PLANE_JWT_ISSUER,
  DataPlaneKeySchema,
  JwksSchema,
  type DataPlaneKey,
} from '../../schema/contracts.ts';
import { findSigningKey } from '../bench/services.ts';
import { freePort } from '../support/processes.ts';
import {
  createDeployment,
  registerNode,
  runNode,
  startGateway,
  startNode,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const MODEL = `keyed-sim-${process.pid}`;
const ADMIN = 'keys-admin-token-0123456789';

let dir: string;
let gateway: Gateway;
let nodeA: GpuNode;
let nodeB: GpuNode;
let keyA: DataPlaneKey;
let keyB: DataPlaneKey;
let relay: Server;
let client: OpenAI;
// The Authorization headers of the requests the gateway sent node A.
const seenByA: string[] = [];
let signer: DataPlaneSigner;

// Node A's advertise URL: passes each request to the daemon, noting its token.
async function startRelay(port: number, target: number): Promise<Server> {
  const server = http.createServer((req, res) => {
    seenByA.push(req.headers.authorization ?? '');
    const upstream = http.request(
      { host: '127.0.0.1', port: target, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

async function keyOf(node: GpuNode): Promise<DataPlaneKey> {
  const raw = JSON.parse(await readFile(node.configPath, 'utf8')) as { data_plane_key?: unknown };
  return DataPlaneKeySchema.parse(raw.data_plane_key);
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
let jti = 0;

// A token made by hand: the data-plane claims for `aud`, an HMAC with `secret`.
function hs256(secret: Buffer | string, aud: string, header: object, claims: object = {}) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64({ alg: 'HS256', typ: 'JWT', ...header })}.${b64({
    iss: DATA_PLANE_JWT_ISSUER,
    aud,
    iat: now,
    exp: now + 30,
    jti: `e2e-${(jti += 1)}`,
    instance: 'none',
    model: MODEL,
    scope: 'inference',
    ...claims,
  })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// The daemon's status for a request with this token: 404 means it took the token (the
// instance named is not there), 401 that it refused it.
async function statusAt(node: GpuNode, token: string): Promise<number> {
  const res = await fetch(`${node.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [] }),
  });
  await res.arrayBuffer();
  return res.status;
}

const sign = (aud: string, s: DataPlaneSigner = signer) =>
  s.sign({ aud, jti: `e2e-${(jti += 1)}`, instance: 'none', model: MODEL, scope: 'inference' });
const algOf = (authorization: string): unknown =>
  (
    JSON.parse(
      Buffer.from(
        authorization.replace(/^Bearer /, '').split('.')[0] ?? '',
        'base64url',
      ).toString(),
    ) as { alg: unknown }
  ).alg;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-keys-'));
  gateway = await startGateway({ dataDir: dir, adminToken: ADMIN });
  const [advertised, listening] = [await freePort(), await freePort()];
  relay = await startRelay(advertised, listening);
  const configA = join(dir, 'node-a.json');
  const nodeIdA = await registerNode({
    gateway,
    name: 'keyed-a',
    configPath: configA,
    port: advertised,
  });
  nodeA = await runNode({ name: 'keyed-a', configPath: configA, port: listening, nodeId: nodeIdA });
  nodeB = await startNode({ gateway, name: 'keyed-b', configPath: join(dir, 'node-b.json') });
  [keyA, keyB] = [await keyOf(nodeA), await keyOf(nodeB)];
  const jwks = JwksSchema.parse(await (await fetch(`${gateway.url}/node/v1/jwks`)).json());
  const jwk = await findSigningKey(`file:${join(dir, 'fleetgate.db')}`, jwks);
  if (!jwk) throw new Error("the gateway's signing key is not in its database");
  signer = await createNodeSigner(jwk);
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 1, itl_ms: 1, max_tokens: 4, seed: 3 },
    placement: { node_id: nodeA.nodeId },
    replicas: 1,
  });
  await waitForReady(gateway, deployment.id, 60_000);
  const apiKey = (await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'k' })).key;
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await nodeA?.service.stop();
  await nodeB?.service.stop();
  await gateway?.service.stop();
  if (relay) await new Promise((resolve) => relay.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('per-node data-plane keys', () => {
  it("gives each node its own key, under the signing key's kid, in an owner-only file", async () => {
    const jwks = JwksSchema.parse(await (await fetch(`${gateway.url}/node/v1/jwks`)).json());
    expect(keyA.kid).toBe(jwks.keys[0]?.kid);
    expect(keyB.kid).toBe(keyA.kid);
    expect(keyB.key).not.toBe(keyA.key);
    expect(await signer.nodeKey(nodeA.nodeId)).toEqual(keyA);
    for (const node of [nodeA, nodeB]) {
      expect((await stat(node.configPath)).mode & 0o777).toBe(0o600);
    }
  });

  it("signs node A's requests HS256 with A's key, and they are served", async () => {
    seenByA.length = 0;
    for (let i = 0; i < 3; i += 1) {
      const answer = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hello' }],
      });
      expect(answer.choices[0]?.message.content).toBeTruthy();
    }
    // The daemon reported its key in a heartbeat before it was ready, so the gateway signs
    // HS256 for it; each token is A's key's MAC.
    const tokens = seenByA.filter((a) => a.startsWith('Bearer '));
    expect(tokens.length).toBe(3);
    for (const authorization of tokens) {
      expect(algOf(authorization)).toBe('HS256');
      const [header, payload, mac] = authorization.replace(/^Bearer /, '').split('.');
      const expected = createHmac('sha256', Buffer.from(keyA.key, 'base64url'))
        .update(`${header}.${payload}`)
        .digest('base64url');
      expect(mac).toBe(expected);
    }
  });

  it("refuses node A's key at node B, and HS256 keyed with the public JWK", async () => {
    signer.noteNodeKey(nodeA.nodeId, keyA.kid);
    signer.noteNodeKey(nodeB.nodeId, keyB.kid);
    expect(await statusAt(nodeA, await sign(nodeA.nodeId))).toBe(404);
    expect(await statusAt(nodeB, await sign(nodeB.nodeId))).toBe(404);
    expect(await statusAt(nodeB, await sign(nodeA.nodeId))).toBe(401);
    const secretA = Buffer.from(keyA.key, 'base64url');
    expect(await statusAt(nodeB, hs256(secretA, nodeB.nodeId, { kid: keyA.kid }))).toBe(401);
    const jwks = await (await fetch(`${gateway.url}/node/v1/jwks`)).text();
    const [publicJwk] = JwksSchema.parse(JSON.parse(jwks)).keys;
    for (const secret of [jwks, JSON.stringify(publicJwk)]) {
      expect(await statusAt(nodeA, hs256(secret, nodeA.nodeId, { kid: keyA.kid }))).toBe(401);
    }
  });

  it('still takes ES256, and refuses a wrong kid, an expired token and a replay', async () => {
    signer.noteNodeKey(nodeA.nodeId, undefined);
    const es256 = await sign(nodeA.nodeId);
    expect(algOf(`Bearer ${es256}`)).toBe('ES256');
    expect(await statusAt(nodeA, es256)).toBe(404);
    expect(await statusAt(nodeA, es256)).toBe(401);
    const secretA = Buffer.from(keyA.key, 'base64url');
    expect(await statusAt(nodeA, hs256(secretA, nodeA.nodeId, { kid: keyA.kid }))).toBe(404);
    expect(await statusAt(nodeA, hs256(secretA, nodeA.nodeId, { kid: 'not-the-kid' }))).toBe(401);
    const now = Math.floor(Date.now() / 1000);
    const expired = hs256(
      secretA,
      nodeA.nodeId,
      { kid: keyA.kid },
      { iat: now - 90, exp: now - 60 },
    );
    expect(await statusAt(nodeA, expired)).toBe(401);
    const once = hs256(secretA, nodeA.nodeId, { kid: keyA.kid });
    expect(await statusAt(nodeA, once)).toBe(404);
    expect(await statusAt(nodeA, once)).toBe(401);
  });

  it('never shows a key in logs or in the admin API', async () => {
    const secrets = [keyA.key, keyB.key];
    const nodes = await gateway.admin.request<unknown>('GET', '/nodes');
    const one = await gateway.admin.request<unknown>('GET', `/nodes/${nodeA.nodeId}`);
    // A few heartbeats more, so that their handling is in the logs read below.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const texts = [
      JSON.stringify(nodes),
      JSON.stringify(one),
      gateway.service.output(),
      nodeA.service.output(),
      nodeB.service.output(),
    ];
    for (const text of texts) {
      for (const secret of secrets) expect(text).not.toContain(secret);
    }
    expect(JSON.stringify(nodes)).toContain(nodeA.nodeId);
  });
});
