// The daemon and its data-plane key: taken from a heartbeat answer, reported back by kid in
// the next heartbeats, saved in the owner-only config file, never logged, and used for HS256
// tokens while ES256 ones still pass. A real daemon (in this process) against a stand-in
// gateway (a real HTTP server) whose keys and tokens come from the gateway's own signer.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNodeSigner } from '../../../gateway/src/signing/node-signer.ts';
import type { DataPlaneSigner } from '../../../gateway/src/signing/node-keys.ts';
import { generateSigningJwk } from '../../../gateway/src/signing/signer.ts';
import {
  DATA_PLANE_JWT_ISSUER,
  HeartbeatRequestSchema,
  type DataPlaneKey,
  type HeartbeatResponse,
} from '../../../schema/contracts.ts';
import { loadConfig, writeConfig, type NodeConfig } from '../config.ts';
import { startDaemon, type Daemon } from '../daemon.ts';
import type { Logger } from '../log.ts';
import { ProcessRuntime } from '../runtimes/process.ts';

const NODE_ID = 'node-keyed';
const SECRET = 'fgn-keyed-secret';

let dir: string;
let server: Server;
let daemon: Daemon;
let gateway: DataPlaneSigner;
// What the stand-in gateway sends (undefined: nothing, as an older gateway) and has seen.
let sentKey: DataPlaneKey | undefined;
const reported: (string | undefined)[] = [];
const logs: string[] = [];
const log: Logger = {
  info: (m) => logs.push(`info ${m}`),
  warn: (m) => logs.push(`warn ${m}`),
  error: (m) => logs.push(`error ${m}`),
};

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

// The daemon's answer to a request with this token: 404 means it took the token (the
// instance is unknown here), 401 that it refused it.
async function statusWith(token: string): Promise<number> {
  const res = await fetch(`${daemon.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: '{}',
  });
  await res.arrayBuffer();
  return res.status;
}

let jti = 0;
const tokenFrom = (signer: DataPlaneSigner) =>
  signer.sign({
    aud: NODE_ID,
    jti: `req-${(jti += 1)}`,
    instance: 'none',
    model: 'm',
    scope: 'inference',
  });
const algOf = (token: string): unknown =>
  (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { alg: unknown })
    .alg;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-node-key-'));
  gateway = await createNodeSigner(await generateSigningJwk());
  server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const body = HeartbeatRequestSchema.safeParse(JSON.parse(text || '{}'));
      if (req.url !== '/node/v1/heartbeat' || req.headers.authorization !== `Bearer ${SECRET}`) {
        res.writeHead(401).end();
        return;
      }
      if (!body.success) {
        res.writeHead(400).end();
        return;
      }
      reported.push(body.data.data_plane_key_id);
      gateway.noteNodeKey(NODE_ID, body.data.data_plane_key_id);
      const answer: HeartbeatResponse = {
        node_id: NODE_ID,
        desired: [],
        heartbeat_interval_s: 0.1,
        jwks: gateway.jwks(),
        ...(sentKey ? { data_plane_key: sentKey } : {}),
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const config: NodeConfig = {
    gateway_url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    node_id: NODE_ID,
    node_secret: SECRET,
    name: 'keyed',
    advertise_url: 'http://127.0.0.1:1',
    issuer: DATA_PLANE_JWT_ISSUER,
    jwks: gateway.jwks(),
    heartbeat_interval_s: 0.1,
    listen: '127.0.0.1:0',
    model_cache: dir,
    runtime: 'process',
  };
  await writeConfig(join(dir, 'node.json'), config);
  daemon = await startDaemon({
    config,
    configPath: join(dir, 'node.json'),
    log,
    runtimes: { process: new ProcessRuntime() },
    recipes: {},
    queryGpus: () => Promise.resolve({ gpus: [] }),
  });
});

afterAll(async () => {
  await daemon?.close();
  await new Promise((resolve) => server?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("the daemon's data-plane key", () => {
  it('works with ES256 alone while the gateway sends no key (an older gateway)', async () => {
    await until('a heartbeat', () => Promise.resolve(reported.length > 1 ? true : undefined));
    expect(reported.every((kid) => kid === undefined)).toBe(true);
    const token = await tokenFrom(gateway);
    expect(algOf(token)).toBe('ES256');
    expect(await statusWith(token)).toBe(404);
  });

  it('takes the key from a heartbeat answer, reports its kid, saves it and never logs it', async () => {
    sentKey = await gateway.nodeKey(NODE_ID);
    const { kid, key } = sentKey;
    await until('the kid in a heartbeat', () =>
      Promise.resolve(reported.at(-1) === kid ? true : undefined),
    );
    const token = await tokenFrom(gateway);
    expect(algOf(token)).toBe('HS256');
    expect(await statusWith(token)).toBe(404);
    // A token made for another node's key does not pass here.
    const other = await createNodeSigner(await generateSigningJwk());
    other.noteNodeKey(NODE_ID, (await other.nodeKey(NODE_ID)).kid);
    expect(await statusWith(await tokenFrom(other))).toBe(401);

    const path = join(dir, 'node.json');
    await until('the key in the config file', async () =>
      (await loadConfig(path, {})).data_plane_key?.key === key ? true : undefined,
    );
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(logs.join('\n')).toContain(kid);
    expect(logs.join('\n')).not.toContain(key);
  });

  it('takes a rotated key: the earlier one is refused, ES256 from the new key set passes', async () => {
    const rotatedJwk = await generateSigningJwk();
    const rotated = await createNodeSigner(rotatedJwk);
    const before = await tokenFrom(gateway);
    gateway = rotated;
    sentKey = await rotated.nodeKey(NODE_ID);
    const { kid, key } = sentKey;
    await until('the new kid in a heartbeat', () =>
      Promise.resolve(reported.at(-1) === kid ? true : undefined),
    );
    expect(await statusWith(before)).toBe(401);
    const after = await tokenFrom(rotated);
    expect(algOf(after)).toBe('HS256');
    expect(await statusWith(after)).toBe(404);
    // The same key in a gateway process that has not seen this node's heartbeat yet.
    const es256 = await tokenFrom(await createNodeSigner(rotatedJwk));
    expect(algOf(es256)).toBe('ES256');
    expect(await statusWith(es256)).toBe(404);
    expect(logs.join('\n')).not.toContain(key);
  });
});
