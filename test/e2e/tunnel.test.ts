// Tunnel mode end to end: a real Node-host gateway and a gpu-node daemon registered with
// --tunnel, which listens on loopback only and is reached through the WebSocket it dials
// out. Driven with the official openai SDK: plain and streamed answers, a client that leaves
// stopping the engine, the log tail, a second tunnel replacing the first, a second replica
// without the tunnel, and the daemon coming back after the gateway restarts.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Node as AdminNode } from '../../schema/admin.ts';
import { decodeFrame, TUNNEL_ADVERTISE_URL, TUNNEL_CLOSE } from '../../schema/tunnel.ts';
import { freePort } from '../support/processes.ts';
import {
  createDeployment,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const MODEL = `tunnel-sim-${process.pid}`;
const ADMIN = 'tunnel-admin-token-0123456789';

let dir: string;
let port: number;
let gateway: Gateway;
let node: GpuNode;
let client: OpenAI;
let apiKey: string;
let deploymentId: string;

function tunnelUrl(g: Gateway): string {
  return `${g.url.replace(/^http/, 'ws')}/node/v1/tunnel`;
}

async function nodeView(g: Gateway): Promise<AdminNode> {
  return g.admin.request<AdminNode>('GET', `/nodes/${node.nodeId}`);
}

async function tunnelUp(g: Gateway): Promise<void> {
  await waitFor('the tunnel to connect', async () =>
    (await nodeView(g)).tunnel_connected ? true : undefined,
  );
}

async function engineRunning(): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const match = /^fleetgate_engine_requests_running\{[^}]*\} (\S+)$/m.exec(text);
  return Number(match?.[1] ?? NaN);
}

async function ask(c: OpenAI) {
  return c.chat.completions.create({
    model: MODEL,
    messages: [{ role: 'user', content: 'hello through the tunnel' }],
    max_tokens: 16,
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-tunnel-'));
  port = await freePort();
  gateway = await startGateway({ dataDir: dir, adminToken: ADMIN, port });
  node = await startNode({
    gateway,
    name: 'tunnel-node',
    configPath: join(dir, 'node.json'),
    tunnel: true,
  });
  await tunnelUp(gateway);
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 1, itl_ms: 10, seed: 3 },
    replicas: 1,
  });
  deploymentId = deployment.id;
  await waitForReady(gateway, deployment.id, 60_000);
  apiKey = (await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'tunnel' })).key;
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a node in tunnel mode', () => {
  it('is listed as a tunnel node with its tunnel connected', async () => {
    const view = await nodeView(gateway);
    expect(view).toMatchObject({
      mode: 'tunnel',
      advertise_url: TUNNEL_ADVERTISE_URL,
      tunnel_connected: true,
      status: 'online',
    });
    // The daemon listens on loopback only.
    expect(new URL(node.url).hostname).toBe('127.0.0.1');
  });

  it('answers plain and streamed requests through the tunnel', async () => {
    const plain = await ask(client);
    expect(plain.choices[0]?.message.content).toBeTruthy();
    expect(plain.usage?.completion_tokens).toBeGreaterThan(0);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'stream through the tunnel' }],
      max_tokens: 24,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let chunks = 0;
    let completion = 0;
    for await (const chunk of stream) {
      chunks += 1;
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) completion = chunk.usage.completion_tokens;
    }
    expect(chunks).toBeGreaterThan(2);
    expect(text.length).toBeGreaterThan(0);
    expect(completion).toBeGreaterThan(0);

    // Many at once share the one socket.
    const many = await Promise.all(Array.from({ length: 20 }, () => ask(client)));
    for (const answer of many) expect(answer.choices[0]?.message.content).toBeTruthy();
  });

  it('carries an audio upload through the tunnel as it streams in', async () => {
    // A second of 16 kHz 16-bit mono silence as a PCM WAV.
    const wav = Buffer.alloc(44 + 32_000);
    wav.write('RIFFxxxxWAVEfmt ', 0, 'ascii');
    wav.writeUInt32LE(16, 16);
    wav.writeUInt32LE(32_000, 28);
    wav.write('data', 36, 'ascii');
    wav.writeUInt32LE(32_000, 40);
    const transcript = await client.audio.transcriptions.create({
      model: MODEL,
      file: await toFile(wav, 'second.wav'),
    });
    expect(transcript.text.length).toBeGreaterThan(0);
    expect(transcript.usage).toEqual({ type: 'duration', seconds: 1 });
  });

  it('stops the engine when the client leaves mid-stream', async () => {
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      {
        model: MODEL,
        messages: [{ role: 'user', content: 'a very long answer, please' }],
        max_tokens: 4000,
        stream: true,
      },
      { signal: controller.signal },
    );
    const reading = (async () => {
      for await (const chunk of stream) void chunk;
    })();
    reading.catch(() => undefined);
    // 4000 tokens at 10 ms each: the engine would run for 40 s.
    await waitFor('the engine to run the request', async () =>
      (await engineRunning()) === 1 ? true : undefined,
    );
    controller.abort();
    // The SDK ends the iteration quietly on its own abort.
    await reading.catch(() => undefined);
    await waitFor(
      'the engine to stop the request',
      async () => ((await engineRunning()) === 0 ? true : undefined),
      15_000,
    );
  });

  it('serves the log tail through the tunnel', async () => {
    const logs = await gateway.admin.request<{ data: string[] }>(
      'GET',
      `/deployments/${deploymentId}/logs?tail=20`,
    );
    expect(logs.data.length).toBeGreaterThan(0);
    expect(logs.data.length).toBeLessThanOrEqual(20);
  });

  it('opens only with the node secret of a tunnel-mode node', async () => {
    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(tunnelUrl(gateway), { headers });
        ws.on('unexpected-response', (_req, res) => {
          resolve(res.statusCode ?? 0);
          ws.terminate();
        });
        ws.on('open', () => {
          ws.close();
          reject(new Error('the tunnel opened'));
        });
        ws.on('error', () => undefined);
      });
    expect(await refused({})).toBe(401);
    expect(await refused({ authorization: 'Bearer fgn-not-a-real-secret' })).toBe(401);
    expect(await refused({ authorization: `Bearer ${apiKey}` })).toBe(401);
  });

  it('is replaced by a second tunnel for the same node, which takes the next request', async () => {
    const config = JSON.parse(await readFile(node.configPath, 'utf8')) as { node_secret: string };
    const second = new WebSocket(tunnelUrl(gateway), {
      headers: { authorization: `Bearer ${config.node_secret}` },
    });
    const firstFrame = new Promise<Uint8Array>((resolve) => {
      second.on('message', (data, isBinary) => {
        if (isBinary) resolve(new Uint8Array(data as Buffer));
      });
    });
    const closed = new Promise<number>((resolve) => second.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      second.once('open', () => resolve());
      second.once('error', reject);
    });
    // The gateway now sends this node's requests to the newest tunnel: this one.
    const request = ask(client);
    request.catch(() => undefined);
    const decoded = decodeFrame(await firstFrame);
    expect(decoded.ok && decoded.frame.type === 'request' && decoded.frame.head.path).toBe(
      '/v1/chat/completions',
    );
    // The daemon saw its tunnel replaced; it reconnects and replaces this one in turn.
    expect(await closed).toBe(TUNNEL_CLOSE.replaced);
    await expect(request).rejects.toThrow();
    await tunnelUp(gateway);
    expect((await ask(client)).choices[0]?.message.content).toBeTruthy();
  });

  it('is reached only through the replica that holds its tunnel', async () => {
    // A second gateway process on the same database, as behind a load balancer.
    const replica = await startGateway({ dataDir: dir, adminToken: ADMIN });
    try {
      const viaReplica = await replica.admin.request<AdminNode>('GET', `/nodes/${node.nodeId}`);
      expect(viaReplica).toMatchObject({ mode: 'tunnel', tunnel_connected: false });
      const other = new OpenAI({ baseURL: `${replica.url}/v1`, apiKey, maxRetries: 0 });
      const failed = await ask(other).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failed).toBeInstanceOf(OpenAI.APIError);
      expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBeGreaterThanOrEqual(502);
      // The replica that holds it keeps serving.
      expect((await ask(client)).choices[0]?.message.content).toBeTruthy();
    } finally {
      await replica.service.stop();
    }
  });

  it('reconnects after the gateway restarts and serves again', async () => {
    await gateway.service.stop();
    gateway = await startGateway({ dataDir: dir, adminToken: ADMIN, port });
    await tunnelUp(gateway);
    await waitFor('the node to be online again', async () =>
      (await nodeView(gateway)).status === 'online' ? true : undefined,
    );
    const answer = await waitFor('an answer through the new tunnel', async () => {
      const res = await ask(client);
      return res.choices[0]?.message.content ?? undefined;
    });
    expect(answer.length).toBeGreaterThan(0);
  });
});
