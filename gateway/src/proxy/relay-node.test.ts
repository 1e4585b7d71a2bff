// The Node relay between real sockets: an engine server, a relaying server (as the Node
// host runs it: node:http request, relayNode, the head written, sendTo) and a client.
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { UsageMeter } from '../usage/meter.ts';
import { relayNode } from './relay-node.ts';
import { UpstreamAbort } from './upstream.ts';

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const block = (content: string) =>
  `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${content}"},"finish_reason":null}]}\n\n`;

// A relaying server whose streams are metered by the meters it hands out.
async function relayServer(engineUrl: string) {
  const meters: UsageMeter[] = [];
  const url = await listen(
    createServer((_req, res) => {
      const meter = new UsageMeter({
        id: 'r',
        keyId: null,
        endpoint: '/v1/chat/completions',
        now: Date.now,
      });
      meter.stream = true;
      meters.push(meter);
      const upstream = new UpstreamAbort(new AbortController().signal);
      const up = request(engineUrl, { signal: upstream.signal });
      up.on('error', () => undefined);
      up.end();
      up.once('response', (message: IncomingMessage) => {
        const relay = relayNode(message, {
          clientWantsUsage: false,
          meter,
          upstream,
          idleTimeoutMs: 10_000,
        });
        void relay.start().then((started) => {
          if (started.kind !== 'live') {
            res.writeHead(502).end(started.kind);
            return;
          }
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          relay.sendTo(res);
        });
      });
    }),
  );
  return { url, meters };
}

describe('relayNode', () => {
  it('passes blocks through byte for byte, hides the usage it was not asked for, counts bytes out', async () => {
    const usage =
      'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n';
    const parts = [
      block('Hé'),
      ': ping\n\n',
      block('llo'),
      `${block('!')}${usage}`,
      'data: [DONE]\n\n',
    ];
    const engine = await listen(
      createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let i = 0;
        const next = () => {
          const part = parts[i++];
          if (part === undefined) return res.end();
          res.write(part);
          setTimeout(next, 5);
        };
        next();
      }),
    );
    const relay = await relayServer(engine);
    const res = await fetch(relay.url);
    const text = await res.text();
    expect(text).toBe(parts.join('').replace(usage, ''));
    const meter = relay.meters[0];
    await expect.poll(() => meter?.bytesOut).toBe(Buffer.byteLength(text));
    expect(meter?.finish()).toMatchObject({ outcome: 'ok', promptTokens: 3, completionTokens: 2 });
  });

  it('pauses the engine while the client does not read, and goes on when it does', async () => {
    const content = 'x'.repeat(4000);
    let sent = 0;
    let stalled = false;
    const engine = await listen(
      createServer((_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const pump = () => {
          // At most 64 MiB: what an unpaused relay would take in at once.
          while (sent < 64 * 1024 * 1024) {
            sent += 4096;
            if (!res.write(block(content))) {
              stalled = true;
              res.once('drain', () => {
                stalled = false;
                pump();
              });
              return;
            }
          }
          res.end('data: [DONE]\n\n');
        };
        pump();
      }),
    );
    const relay = await relayServer(engine);
    const client = request(relay.url);
    client.end();
    const res = await new Promise<IncomingMessage>((resolve) => client.once('response', resolve));
    // The client reads one chunk, then stops.
    await new Promise((resolve) => res.once('data', resolve));
    res.pause();
    // The buffers between the engine and the client fill, then the engine stays stalled.
    let whileStalled = -1;
    for (let waited = 0; waited < 10_000 && whileStalled !== sent; waited += 300) {
      whileStalled = sent;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    expect(sent).toBe(whileStalled);
    expect(stalled).toBe(true);
    expect(sent).toBeLessThan(32 * 1024 * 1024);
    // Reading again lets the engine go on.
    res.resume();
    await expect.poll(() => sent, { timeout: 5000 }).toBeGreaterThan(whileStalled);
    res.destroy();
  });
});
