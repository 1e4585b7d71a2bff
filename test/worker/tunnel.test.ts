// Tunnel mode on the Worker host, inside workerd: a node registered in tunnel mode opens its
// WebSocket through the Worker into its Durable Object (NodeTunnel, hibernation API), and a
// streamed chat completion from the official openai SDK is relayed through the object and
// the socket. The test plays the node's daemon on the socket, frame by frame.
import { env, exports } from 'cloudflare:workers';
import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Node as AdminNode } from '../../schema/admin.ts';
import {
  decodeFrame,
  encodeFrame,
  TUNNEL_CLOSE,
  type Frame,
  type RequestHead,
} from '../../schema/tunnel.ts';

const ORIGIN = 'http://fleetgate.test';
const MODEL = 'worker-tunnel-model';
const WORDS = ['Through ', 'the ', 'tunnel ', 'and ', 'back.'];

async function call<T>(method: string, path: string, token: string, body?: unknown) {
  const res = await exports.default.fetch(`${ORIGIN}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

const admin = <T>(method: string, path: string, body?: unknown) =>
  call<T>(method, `/admin/v1${path}`, env.FLEETGATE_ADMIN_TOKEN, body);

function chunk(delta: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  return `data: ${JSON.stringify({
    id: 'chatcmpl-tunnel',
    object: 'chat.completion.chunk',
    created: 1,
    model: MODEL,
    choices: [{ index: 0, delta, finish_reason: null }],
    ...extra,
  })}\n\n`;
}

// The node's side of one tunnel: answers each chat completion with WORDS as SSE chunks,
// one data frame each, and records the request heads it saw.
function playNode(ws: WebSocket) {
  const seen: RequestHead[] = [];
  const send = (frame: Frame) => ws.send(encodeFrame(frame));
  const encoder = new TextEncoder();
  // Binary messages arrive here as Blobs; read them in order.
  let reading = Promise.resolve();
  ws.addEventListener('message', (event) => {
    if (typeof event.data === 'string') return;
    const data: unknown = event.data;
    reading = reading.then(async () => {
      const bytes =
        data instanceof Blob
          ? new Uint8Array(await data.arrayBuffer())
          : new Uint8Array(data as ArrayBuffer);
      handle(decodeFrame(bytes));
    });
  });
  const handle = (decoded: ReturnType<typeof decodeFrame>) => {
    if (!decoded.ok || decoded.frame.type !== 'end') {
      if (decoded.ok && decoded.frame.type === 'request') seen.push(decoded.frame.head);
      return;
    }
    // The request body is complete: answer.
    const stream = decoded.frame.stream;
    send({
      type: 'response',
      stream,
      head: { status: 200, headers: [['content-type', 'text/event-stream']] },
    });
    const parts = [
      chunk({ role: 'assistant', content: '' }),
      ...WORDS.map((w) => chunk({ content: w })),
      `data: ${JSON.stringify({
        id: 'chatcmpl-tunnel',
        object: 'chat.completion.chunk',
        created: 1,
        model: MODEL,
        choices: [],
        usage: {
          prompt_tokens: 3,
          completion_tokens: WORDS.length,
          total_tokens: 3 + WORDS.length,
        },
      })}\n\n`,
      'data: [DONE]\n\n',
    ];
    let seq = 0;
    for (const part of parts)
      send({ type: 'data', stream, seq: seq++, data: encoder.encode(part) });
    send({ type: 'end', stream, seq });
  };
  return { seen };
}

async function openTunnel(secret: string): Promise<WebSocket> {
  const res = await exports.default.fetch(`${ORIGIN}/node/v1/tunnel`, {
    headers: { upgrade: 'websocket', authorization: `Bearer ${secret}` },
  });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error('no WebSocket in the 101 answer');
  ws.accept();
  return ws;
}

let nodeId: string;
let nodeSecret: string;
let apiKey: string;

beforeAll(async () => {
  apiKey = (await admin<{ key: string }>('POST', '/keys', { name: 'worker-tunnel' })).body.key;
  const token = await admin<{ token: string }>('POST', '/registration-tokens', {
    name: 'worker-tunnel-node',
    ttl_s: 600,
    uses: 1,
  });
  const registered = await call<{ node_id: string; node_secret: string }>(
    'POST',
    '/node/v1/register',
    token.body.token,
    { name: 'worker-tunnel-node', mode: 'tunnel', gpus: [], daemon_version: 'worker-test' },
  );
  expect(registered.status).toBe(201);
  nodeId = registered.body.node_id;
  nodeSecret = registered.body.node_secret;
  const deployment = await admin<{ id: string }>('POST', '/deployments', {
    model: MODEL,
    recipe: 'external',
    options: { url: 'http://127.0.0.1:9' },
    placement: { node_id: nodeId },
    replicas: 1,
  });
  expect(deployment.status).toBe(201);
  const heartbeat = (instances: unknown[]) =>
    call<{ desired: { instance_id: string; deployment_id: string }[] }>(
      'POST',
      '/node/v1/heartbeat',
      nodeSecret,
      { daemon_version: 'worker-test', gpus: [], instances, in_flight: 0, queued: 0 },
    );
  const desired = (await heartbeat([])).body.desired.find(
    (d) => d.deployment_id === deployment.body.id,
  );
  if (!desired) throw new Error('the heartbeat answer lacks the deployment');
  await heartbeat([
    { instance_id: desired.instance_id, deployment_id: deployment.body.id, state: 'ready' },
  ]);
});

describe('tunnel mode on the Worker host', () => {
  it('refuses a tunnel without the node secret', async () => {
    const res = await exports.default.fetch(`${ORIGIN}/node/v1/tunnel`, {
      headers: { upgrade: 'websocket', authorization: 'Bearer fgn-wrong' },
    });
    expect(res.status).toBe(401);
  });

  it("relays a streamed answer through the node's Durable Object", async () => {
    const ws = await openTunnel(nodeSecret);
    const node = playNode(ws);
    const view = await admin<AdminNode>('GET', `/nodes/${nodeId}`);
    expect(view.body).toMatchObject({ mode: 'tunnel', tunnel_connected: true });

    const client = new OpenAI({
      baseURL: `${ORIGIN}/v1`,
      apiKey,
      maxRetries: 0,
      fetch: (input, init) => exports.default.fetch(input, init),
    });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello' }],
      stream: true,
    });
    let text = '';
    for await (const part of stream) text += part.choices[0]?.delta.content ?? '';
    expect(text).toBe(WORDS.join(''));
    // The node got the request with the gateway's JWT, which it verifies itself.
    expect(node.seen).toHaveLength(1);
    expect(node.seen[0]?.path).toBe('/v1/chat/completions');
    const auth = node.seen[0]?.headers.find(([name]) => name === 'authorization')?.[1];
    expect(auth).toMatch(/^Bearer ey/);
    ws.close(1000, 'done');
  });

  it('lets a second tunnel replace the first', async () => {
    const first = await openTunnel(nodeSecret);
    const closed = new Promise<number>((resolve) => {
      first.addEventListener('close', (event) => resolve(event.code));
    });
    const second = await openTunnel(nodeSecret);
    const node = playNode(second);
    expect(await closed).toBe(TUNNEL_CLOSE.replaced);
    const res = await exports.default.fetch(`${ORIGIN}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
      }),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    expect(text).toContain('back.');
    expect(node.seen).toHaveLength(1);
    second.close(1000, 'done');
  });
});
