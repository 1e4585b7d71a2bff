// What hostile or broken clients and nodes send, thrown at a real Node-host stack: the
// gateway as its own process on an embedded libSQL file, a real gpu-node daemon with the
// engine simulator, and a node played by this test whose streams are broken on purpose.
// Every client mistake gets a 4xx in OpenAI's shape (never a 5xx, never a reset), nothing
// wrong is stored, and a broken upstream stream ends with an error event instead of a hang.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { calculateJwkThumbprint, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DATA_PLANE_JWT_ISSUER } from '../../schema/contracts.ts';
import {
  createDeployment,
  startGateway,
  startNode,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const ADMIN = 'hostile-admin-token-0123456789';
const SIM = `hostile-sim-${process.pid}`;
const BROKEN = `hostile-broken-${process.pid}`;

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let apiKey: string;
let client: OpenAI;
let upstream: Server;
let heartbeats: ReturnType<typeof setInterval> | undefined;
let simInstance: string;

// The broken node's answers, chosen by the request's `scenario` field (the gateway forwards
// fields it does not know).
const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: BROKEN, choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}`;
const STREAMS: Record<string, string> = {
  garbage: 'this is not an event stream\n\u0000\u0001\u0002 garbage \uFFFD\n\n<html>oops</html>\n',
  pings: `: ping\n\n${chunk('Hel')}\n\n: ping\n\n${chunk('lo', 'stop')}\n\n: ping\n\ndata: [DONE]\n\n`,
  'event-error': `${chunk('a')}\n\nevent: error\ndata: {"error":{"message":"engine crashed","type":"server_error","code":"engine_error"}}\n\n`,
  crlf: `${chunk('Hel')}\r\n\r\n${chunk('lo', 'stop')}\r\n\r\ndata: [DONE]\r\n\r\n`,
  'no-line-end': `${chunk('a')}\n\n${chunk('b').slice(0, 30)}`,
};

function startBrokenUpstream(): Promise<string> {
  upstream = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as { scenario?: string };
      const text = STREAMS[body.scenario ?? ''] ?? STREAMS.pings;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(text);
    });
  });
  return new Promise((resolve) => {
    upstream.listen(0, '127.0.0.1', () => {
      resolve(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    });
  });
}

async function post(path: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body as BodyInit,
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

// A 4xx whose body is exactly OpenAI's error shape.
function expectClientError(res: { status: number; text: string }, code?: string) {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  const body = JSON.parse(res.text) as { error: Record<string, unknown> };
  expect(Object.keys(body)).toEqual(['error']);
  expect(Object.keys(body.error).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof body.error.message).toBe('string');
  if (code !== undefined) expect(body.error.code).toBe(code);
  return body.error;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-hostile-'));
  gateway = await startGateway({ dataDir: dir, adminToken: ADMIN, heartbeatIntervalS: 1 });
  node = await startNode({ gateway, name: 'hostile-node', configPath: join(dir, 'node.json') });
  const sim = await createDeployment(gateway, {
    model: SIM,
    recipe: 'sim',
    options: { ttft_ms: 5, itl_ms: 1, max_tokens: 8, seed: 1 },
    replicas: 1,
    // On the real daemon: placed later (the placement runs on its own clock), it could land
    // on the broken node registered below, whose scripted heartbeats never start it.
    placement: { node_id: node.nodeId },
  });

  // The broken node: registered and kept online by this test, as a daemon would.
  const brokenUrl = await startBrokenUpstream();
  const token = await gateway.admin.request<{ token: string }>('POST', '/registration-tokens', {
    name: 'broken',
    uses: 1,
  });
  const registered = await post(
    '/node/v1/register',
    JSON.stringify({
      name: 'broken-node',
      advertise_url: brokenUrl,
      gpus: [],
      daemon_version: 't',
    }),
    { authorization: `Bearer ${token.token}` },
  );
  const { node_id: brokenNode, node_secret: secret } = JSON.parse(registered.text) as {
    node_id: string;
    node_secret: string;
  };
  const broken = await createDeployment(gateway, {
    model: BROKEN,
    recipe: 'external',
    options: { url: brokenUrl },
    placement: { node_id: brokenNode },
  });
  const instance = broken.instances[0];
  if (!instance) throw new Error('the broken deployment was not placed');
  const beat = () =>
    post(
      '/node/v1/heartbeat',
      JSON.stringify({
        daemon_version: 't',
        gpus: [],
        instances: [{ instance_id: instance.id, deployment_id: broken.id, state: 'ready' }],
        in_flight: 0,
        queued: 0,
      }),
      { authorization: `Bearer ${secret}` },
    );
  await beat();
  heartbeats = setInterval(() => void beat().catch(() => undefined), 500);

  simInstance = (await waitForReady(gateway, sim.id, 60_000)).instances[0]?.id ?? '';
  await waitForReady(gateway, broken.id, 10_000);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'hostile' });
  apiKey = key.key;
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  clearInterval(heartbeats);
  await node?.service.stop();
  await gateway?.service.stop();
  await new Promise((resolve) => upstream?.close(resolve));
  if (dir) await rm(dir, { recursive: true, force: true });
});

const chat = (body: unknown) =>
  post(
    '/v1/chat/completions',
    typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    {
      authorization: `Bearer ${apiKey}`,
    },
  );

describe('malformed requests get a 4xx in OpenAI shape', () => {
  it('truncated and malformed JSON', async () => {
    for (const text of [
      `{"model":"${SIM}","messages":[{"role":"user","content":"hi"`,
      '{model: sim}',
      '',
      'null',
      '[]',
      '"just a string"',
      `{"model":"${SIM}","messages":[]}garbage`,
    ]) {
      expectClientError(await chat(text), 'invalid_json');
    }
  });

  it('wrong types, naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ model: 5, messages: [] }, 'model'],
      [{ model: SIM, messages: 'hi' }, 'messages'],
      [{ model: SIM, messages: [], stream: 'yes' }, 'stream'],
      [{ model: SIM, messages: [], stream_options: 'all' }, 'stream_options'],
      [{ messages: [] }, 'model'],
    ];
    for (const [body, param] of cases) {
      expect(expectClientError(await chat(body)).param).toBe(param);
    }
    const embeddings = await post('/v1/embeddings', JSON.stringify({ model: SIM, input: 7 }), {
      authorization: `Bearer ${apiKey}`,
    });
    expect(expectClientError(embeddings).param).toBe('input');
  });

  it('10,000 levels of nesting', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    for (const text of [
      `{"model":"${SIM}","messages":[{"role":"user","content":"hi"}],"extra":${deep}}`,
      `{"model":"${SIM}","messages":${deep}}`,
    ]) {
      expectClientError(await chat(text), 'invalid_json');
    }
    // The admin API too (deployment options are stored as JSON).
    const admin = await post(
      '/admin/v1/deployments',
      `{"model":"deep","recipe":"sim","options":{"a":${deep}}}`,
      { authorization: `Bearer ${ADMIN}` },
    );
    expectClientError(admin, 'invalid_json');
  });

  it('invalid UTF-8', async () => {
    const bytes = (...parts: (string | number[])[]) =>
      Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
    // In the JSON's structure: not JSON at all.
    const structural = await chat(bytes('{"model":', [0xff, 0xfe], '}'));
    expectClientError(structural, 'invalid_json');
    // Inside a string: decoded with replacement characters, so an unknown model.
    expectClientError(
      await chat(bytes('{"model":"', [0xc3, 0x28, 0xff], '","messages":[]}')),
      'model_not_found',
    );
  });

  it('a 100 kB model name, and SQL-ish strings stored as text', async () => {
    expect(expectClientError(await chat({ model: 'm'.repeat(100_000), messages: [] })).param).toBe(
      'model',
    );
    const sqlish = "x'); DROP TABLE usage_events; --";
    expectClientError(
      await chat({ model: sqlish, messages: [{ role: 'user', content: "' OR 1=1 --" }] }),
      'model_not_found',
    );
    const key = await post(
      '/admin/v1/keys',
      JSON.stringify({ name: "'; DELETE FROM api_keys;--" }),
      {
        authorization: `Bearer ${ADMIN}`,
      },
    );
    expect(key.status).toBe(201);
    const keys = await gateway.admin.request<{ data: { name: string }[] }>('GET', '/keys');
    expect(keys.data.map((k) => k.name)).toContain("'; DELETE FROM api_keys;--");
    expect(keys.data.map((k) => k.name)).toContain('hostile');
  });

  it('an oversized body', async () => {
    const big = JSON.stringify({
      model: SIM,
      messages: [{ role: 'user', content: 'x'.repeat(2 << 20) }],
    });
    expectClientError(await chat(big), 'request_too_large');
  });

  it('stored nothing wrong: refused requests are recorded with their 4xx, no tokens, no long model', async () => {
    interface Row {
      status: number;
      model: string | null;
      total_tokens: number;
    }
    // Through the admin API rather than the database file, which the gateway is writing.
    const refused = async () => {
      const events = await gateway.admin.request<{ data: Row[] }>(
        'GET',
        '/usage/events?limit=1000',
      );
      return events.data.filter((e) => e.status >= 400);
    };
    const sqlish = "x'); DROP TABLE usage_events; --";
    // Rows are written in batches off the request path: wait for the last refused one.
    await expect
      .poll(async () => (await refused()).filter((r) => r.model === sqlish).length, {
        timeout: 10_000,
      })
      .toBe(1);
    const rows = await refused();
    expect(rows.length).toBeGreaterThan(10);
    for (const row of rows) {
      expect(row.status).toBeLessThan(500);
      expect(row.total_tokens).toBe(0);
      expect(row.model?.length ?? 0).toBeLessThanOrEqual(256);
    }
    expect(rows.filter((r) => r.model === sqlish)).toHaveLength(1);
  });
});

describe("forged node JWTs at the node's /v1", () => {
  async function gatewayKey(): Promise<{ key: CryptoKey | Uint8Array; kid: string }> {
    const db = createClient({ url: `file:${join(dir, 'fleetgate.db')}` });
    try {
      const rows = await db.execute("select value from settings where key = 'signing_jwk'");
      const value = rows.rows[0]?.value;
      if (typeof value !== 'string') throw new Error('no signing key in the settings table');
      const jwk = JSON.parse(value) as JWK;
      const { kty, crv, x, y } = jwk;
      const kid = jwk.kid ?? (await calculateJwkThumbprint({ kty, crv, x, y }));
      return { key: await importJWK({ ...jwk, alg: 'ES256' }, 'ES256'), kid };
    } finally {
      db.close();
    }
  }

  const token = async (
    signing: { key: CryptoKey | Uint8Array; kid: string },
    claims: { aud: string; exp: number; scope?: string; instance?: string; jti?: string },
  ) =>
    new SignJWT({
      instance: claims.instance ?? simInstance,
      model: SIM,
      scope: claims.scope ?? 'inference',
    })
      .setProtectedHeader({ alg: 'ES256', kid: signing.kid, typ: 'JWT' })
      .setIssuer(DATA_PLANE_JWT_ISSUER)
      .setAudience(claims.aud)
      .setJti(claims.jti ?? crypto.randomUUID())
      .setIssuedAt(claims.exp - 30)
      .setExpirationTime(claims.exp)
      .sign(signing.key);

  const nodeChat = (authorization: string | undefined) =>
    fetch(`${node.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ model: SIM, messages: [{ role: 'user', content: 'hi' }] }),
    });

  it('refuses a token with the wrong scope, and a valid token used twice', async () => {
    const now = Math.floor(Date.now() / 1000);
    const real = await gatewayKey();
    const logs = await token(real, { aud: node.nodeId, exp: now + 30, scope: 'logs' });
    expect((await nodeChat(`Bearer ${logs}`)).status).toBe(401);
    const once = `Bearer ${await token(real, { aud: node.nodeId, exp: now + 30 })}`;
    const first = await nodeChat(once);
    expect(first.status).toBe(200);
    await first.text();
    const replay = await nodeChat(once);
    expect(replay.status).toBe(401);
    const body = await replay.json<{ error?: { message?: unknown } }>();
    expect(typeof body.error?.message).toBe('string');
  });

  it('refuses missing, forged, expired and wrong-audience tokens with a 4xx', async () => {
    const now = Math.floor(Date.now() / 1000);
    const real = await gatewayKey();
    const stranger = await generateKeyPair('ES256');
    const tokens: [string, string | undefined][] = [
      ['none', undefined],
      ['garbage', 'Bearer not.a.jwt'],
      [
        'forged',
        `Bearer ${await token({ key: stranger.privateKey, kid: real.kid }, { aud: node.nodeId, exp: now + 30 })}`,
      ],
      ['expired', `Bearer ${await token(real, { aud: node.nodeId, exp: now - 120 })}`],
      ['wrong audience', `Bearer ${await token(real, { aud: 'another-node', exp: now + 30 })}`],
    ];
    for (const [name, authorization] of tokens) {
      const res = await nodeChat(authorization);
      expect([name, res.status]).toEqual([name, 401]);
      const body = await res.json<{ error?: { message?: unknown } }>();
      expect(typeof body.error?.message).toBe('string');
    }
    // The same request through the gateway is served: the node works, the tokens did not.
    const served = await client.chat.completions.create({
      model: SIM,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(served.choices[0]?.message.content).toBeTruthy();
  });
});

describe('a single-use registration token', () => {
  it('registers exactly one node when 8 registrations use it at once', async () => {
    const { token } = await gateway.admin.request<{ token: string }>(
      'POST',
      '/registration-tokens',
      {
        name: 'race',
        uses: 1,
      },
    );
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        post(
          '/node/v1/register',
          JSON.stringify({
            name: `race-${i}`,
            advertise_url: 'http://127.0.0.1:9',
            gpus: [],
            daemon_version: 't',
          }),
          { authorization: `Bearer ${token}` },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) expectClientError(r);
    const nodes = await gateway.admin.request<{ data: { name: string }[] }>('GET', '/nodes');
    expect(nodes.data.filter((n) => n.name.startsWith('race-'))).toHaveLength(1);
  });
});

// A streamed request with the field the broken node reads (the gateway passes it on).
function brokenParams(scenario: string): OpenAI.ChatCompletionCreateParamsStreaming {
  const params: OpenAI.ChatCompletionCreateParamsStreaming & { scenario: string } = {
    model: BROKEN,
    stream: true,
    messages: [{ role: 'user', content: 'hi' }],
    scenario,
  };
  return params;
}

describe('broken upstream streams end cleanly', () => {
  const stream = (scenario: string) =>
    chat({ model: BROKEN, stream: true, messages: [{ role: 'user', content: 'hi' }], scenario });
  const lastBlock = (text: string) =>
    JSON.parse(
      text
        .trimEnd()
        .split(/\n\n/)
        .at(-1)
        ?.replace(/^data: /, '') ?? '',
    ) as {
      error?: { code?: string; message?: string };
    };

  // Nothing of the answer reached the client before the stream broke, so it counts as a
  // failure before the first content (issue 17): with no other instance to try, the client
  // gets a 502 in OpenAI's shape instead of a 200 carrying an error event.
  it('garbage: no content arrived, so the client gets 502 in OpenAI shape', async () => {
    const res = await stream('garbage');
    expect(res.status).toBe(502);
    const body = JSON.parse(res.text) as { error: { code?: string; type?: string } };
    expect(body.error.code).toBe('upstream_error');
    expect(body.error.type).toBe('server_error');
  });

  it('a line with no end: the cut block is dropped and the stream ends with an error event', async () => {
    const res = await stream('no-line-end');
    expect(res.text).toContain('"content":"a"');
    expect(res.text).not.toContain('"content":"b"');
    expect(lastBlock(res.text).error?.code).toBe('upstream_error');
  });

  it('event: error reaches the SDK as an APIError', async () => {
    const run = async () => {
      const chunks = await client.chat.completions.create(brokenParams('event-error'));
      for await (const part of chunks) void part;
    };
    await expect(run()).rejects.toBeInstanceOf(APIError);
  });

  it('`: ping` comments and CRLF line ends are a normal stream', async () => {
    for (const scenario of ['pings', 'crlf']) {
      const chunks = await client.chat.completions.create(brokenParams(scenario));
      let text = '';
      for await (const part of chunks) text += part.choices[0]?.delta.content ?? '';
      expect(text).toBe('Hello');
    }
  });
});
