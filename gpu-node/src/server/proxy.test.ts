// The daemon's proxy against an engine that closes idle keep-alive connections: a request
// that lands on such a connection is sent again on a new one instead of failing with 502.
import http, { type Server } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bodyLimits } from './body.ts';
import { proxyRequest } from './proxy.ts';

let engine: net.Server;
let proxy: Server;
let proxyUrl: string;
let connections = 0;
let answered = 0;
let dropped = 0;
const sockets = new Set<net.Socket>();

// A raw HTTP/1.1 engine: it answers the first request on each connection with keep-alive,
// then drops the connection as soon as a second request arrives on it, unanswered, as an
// engine does when its idle timer fires while a request is on the way.
function startEngine(): Promise<number> {
  engine = net.createServer((socket) => {
    connections += 1;
    sockets.add(socket);
    let requests = 0;
    socket.on('data', (data) => {
      if (!data.toString('latin1').includes('\r\n\r\n')) return;
      requests += 1;
      if (requests > 1) {
        dropped += 1;
        socket.destroy();
        return;
      }
      answered += 1;
      const body = JSON.stringify({ ok: true, connection: connections });
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n` +
          `connection: keep-alive\r\n\r\n${body}`,
      );
    });
    socket.on('error', () => undefined);
  });
  return new Promise((resolve) =>
    engine.listen(0, '127.0.0.1', () => resolve((engine.address() as AddressInfo).port)),
  );
}

beforeAll(async () => {
  const port = await startEngine();
  const endpoint = { baseUrl: `http://127.0.0.1:${port}`, healthUrl: '', headers: {} };
  proxy = http.createServer((req, res) => {
    void proxyRequest(req, res, {
      endpoint,
      requestId: 'req-1',
      onDone: () => undefined,
      bodyLimits: bodyLimits(),
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  proxy.closeAllConnections();
  await new Promise((resolve) => proxy.close(resolve));
  // The proxy's agent keeps the last engine connection open.
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => engine.close(resolve));
});

it('sends a request again when the engine closed the reused connection', async () => {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const res = await fetch(`${proxyUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [] }),
    });
    statuses.push(res.status);
    await res.text();
  }
  expect(statuses).toEqual([200, 200, 200]);
  expect(answered).toBe(3);
  // Requests 2 and 3 each went out on the kept connection, found it closed, and were sent
  // again on a new one.
  expect(dropped).toBe(2);
  expect(connections).toBe(3);
});

// An engine that sends an answer's headers and then nothing until told: a long prefill.
it('sends the headers alone when the first piece of the body is late', async () => {
  let release: () => void = () => undefined;
  const slow = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    release = () => res.end('data: [DONE]\n\n');
  });
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
  const endpoint = {
    baseUrl: `http://127.0.0.1:${(slow.address() as AddressInfo).port}`,
    healthUrl: '',
    headers: {},
  };
  let progress = 0;
  const front = http.createServer((req, res) => {
    void proxyRequest(req, res, {
      endpoint,
      requestId: 'req-slow',
      onDone: () => undefined,
      onProgress: () => (progress += 1),
      bodyLimits: bodyLimits(),
      headerFlushMs: 20,
    });
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  try {
    // The engine's body is held until the headers arrived here.
    const res = await fetch(`http://127.0.0.1:${(front.address() as AddressInfo).port}/v1/x`, {
      method: 'POST',
      body: '{}',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    // The watchdog heard of the headers.
    expect(progress).toBe(1);
    release();
    expect(await res.text()).toBe('data: [DONE]\n\n');
    expect(progress).toBe(2);
  } finally {
    front.closeAllConnections();
    slow.closeAllConnections();
    await new Promise((resolve) => front.close(resolve));
    await new Promise((resolve) => slow.close(resolve));
  }
});
