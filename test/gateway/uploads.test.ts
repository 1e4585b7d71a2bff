// Audio uploads are streamed through to the node, not held by the gateway: the node
// receives the first part of an upload while the client has not yet sent the rest, and
// the client sends the rest only once the node has it (so a gateway that read the whole
// body first would never answer). Through the whole app, to a real HTTP server standing
// in for the node.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentSchema, ErrorBodySchema, UsageEventListSchema } from '../../schema/admin.ts';
import { startGatewayHarness, type GatewayHarness } from '../support/gateway-harness.ts';

const BOUNDARY = 'fleetgate-upload-test';
const encoder = new TextEncoder();

describe('audio uploads', () => {
  let h: GatewayHarness;
  let node: Server;
  let nodeUrl: string;
  // Bytes of the upload the node has received, and who waits for them.
  let received = 0;
  let waiting: { bytes: number; resolve: () => void } | undefined;
  let lastBody = '';

  beforeAll(async () => {
    h = await startGatewayHarness();
    node = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (waiting && received >= waiting.bytes) waiting.resolve();
      });
      req.on('end', () => {
        lastBody = Buffer.concat(chunks).toString('latin1');
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ text: 'heard', usage: { type: 'duration', seconds: 7 } }));
      });
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    nodeUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
    const registered = await h.registerNode('audio-node', nodeUrl);
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'whisper',
      recipe: 'external',
      options: { url: nodeUrl },
      placement: { node_id: registered.node_id },
    });
    const instance = dep.body.instances[0];
    if (!instance) throw new Error('not placed');
    await h.heartbeat(registered.node_secret, [
      { instance_id: instance.id, deployment_id: dep.body.id, state: 'ready' },
    ]);
  });
  afterAll(async () => {
    node.closeAllConnections();
    await new Promise((resolve) => node.close(resolve));
    await h.close();
  });

  it('reach the node while the client is still sending', async () => {
    const key = await h.createKey({ name: 'audio' });
    const head = encoder.encode(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper\r\n` +
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n` +
        `Content-Type: audio/wav\r\n\r\n${'A'.repeat(64 * 1024)}`,
    );
    const tail = encoder.encode(`${'B'.repeat(64 * 1024)}\r\n--${BOUNDARY}--\r\n`);
    let sentTail = false;
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        step += 1;
        if (step === 1) {
          controller.enqueue(head);
          return;
        }
        if (step === 2) {
          // The rest only once the node holds the head: a gateway that read the whole
          // upload before forwarding it would wait here for ever (bounded by the guard).
          await new Promise<void>((resolve, reject) => {
            waiting = { bytes: head.length, resolve };
            if (received >= head.length) resolve();
            setTimeout(
              () => reject(new Error('the node got nothing while the upload was open')),
              10_000,
            );
          });
          sentTail = true;
          controller.enqueue(tail);
          return;
        }
        controller.close();
      },
    });
    const init: RequestInit & { duplex: 'half' } = {
      method: 'POST',
      headers: {
        authorization: `Bearer ${key.key}`,
        'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      },
      body,
      duplex: 'half',
    };
    const res = await h.app.request('/v1/audio/transcriptions', init);
    expect(res.status).toBe(200);
    expect(sentTail).toBe(true);
    expect(z.object({ text: z.string() }).parse(await res.json()).text).toBe('heard');
    // Forwarded byte for byte.
    expect(lastBody).toBe(
      new TextDecoder('latin1').decode(head) + new TextDecoder('latin1').decode(tail),
    );
    const requestId = res.headers.get('x-request-id');
    await expect
      .poll(async () => {
        const events = await h.adminOk(UsageEventListSchema, 'GET', '/usage/events?limit=10');
        return events.body.data.find((e) => e.id === requestId);
      })
      .toMatchObject({ endpoint: '/v1/audio/transcriptions', audio_seconds: 7, outcome: 'ok' });
  });

  it('refuse malformed uploads with 400 in OpenAI shape, without reaching the node', async () => {
    const key = await h.createKey({ name: 'malformed' });
    const before = received;
    const post = (contentType: string, body: string) =>
      h.call('POST', '/v1/audio/transcriptions', {
        token: key.key,
        raw: body,
        headers: { 'content-type': contentType },
      });
    const cases: [string, string, string | null][] = [
      ['application/json', '{"model":"whisper"}', null],
      [`multipart/form-data; boundary=${BOUNDARY}`, `--${BOUNDARY}--\r\n`, 'model'],
      [
        `multipart/form-data; boundary=${BOUNDARY}`,
        `--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\nx\r\n--${BOUNDARY}--\r\n`,
        null,
      ],
      [
        `multipart/form-data; boundary=${BOUNDARY}`,
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\n${'m'.repeat(5000)}`,
        null,
      ],
    ];
    for (const [contentType, body, param] of cases) {
      const res = await post(contentType, body);
      expect(res.status, body.slice(0, 60)).toBe(400);
      expect(ErrorBodySchema.parse(res.body).error.param).toBe(param);
    }
    const unknown = await post(
      `multipart/form-data; boundary=${BOUNDARY}`,
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="model"\r\n\r\nnope\r\n--${BOUNDARY}--\r\n`,
    );
    expect(unknown.status).toBe(404);
    expect(received).toBe(before);
  });
});
