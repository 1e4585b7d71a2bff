// The node:http transport against a real server on 127.0.0.1: what it sends, what the
// Response it builds holds, and how a stream ends when either side goes away.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBlackhole } from '../testing/blackhole.ts';
import {
  createNodeHttpTransport,
  NodeConnectTimeoutError,
  nodeHttpTransport,
} from './node-transport.ts';

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: http.IncomingHttpHeaders;
  body: string;
}

let server: http.Server;
let base: string;
const seen: Seen[] = [];
const closed: string[] = [];

function route(req: IncomingMessage, res: ServerResponse, body: string): void {
  seen.push({ method: req.method, url: req.url, headers: req.headers, body });
  switch (req.url) {
    case '/echo':
      res.writeHead(201, { 'content-type': 'application/json', 'x-multi': ['a', 'b'] });
      res.end(JSON.stringify({ got: body }));
      return;
    case '/empty':
      res.writeHead(204);
      res.end();
      return;
    case '/redirect':
      res.writeHead(302, { location: 'http://127.0.0.1:1/elsewhere' });
      res.end();
      return;
    case '/stream': {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n');
      const timer = setInterval(() => res.write('data: more\n\n'), 10);
      res.once('close', () => {
        clearInterval(timer);
        closed.push(req.url ?? '');
      });
      return;
    }
    case '/cut':
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 1\n\n', () => res.destroy());
      return;
  }
  res.writeHead(404);
  res.end();
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => route(req, res, body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const node = () => ({ id: 'n', advertiseUrl: base });

describe('nodeHttpTransport', () => {
  it('sends method, headers and body, and returns status, headers and body', async () => {
    const res = await nodeHttpTransport.fetch(node(), '/echo', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', authorization: 'Bearer t' },
      body: '{"é":1}',
      signal: new AbortController().signal,
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('x-multi')).toBe('a, b');
    expect(await res.json()).toEqual({ got: '{"é":1}' });
    const last = seen.at(-1);
    expect(last).toMatchObject({ method: 'POST', url: '/echo', body: '{"é":1}' });
    expect(last?.headers).toMatchObject({
      'content-type': 'application/json',
      authorization: 'Bearer t',
      'content-length': String(Buffer.byteLength('{"é":1}')),
    });
  });

  it('gives a 204 a null body and answers a redirect without following it', async () => {
    const signal = new AbortController().signal;
    const empty = await nodeHttpTransport.fetch(node(), '/empty', { method: 'GET', signal });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const redirect = await nodeHttpTransport.fetch(node(), '/redirect', { method: 'GET', signal });
    expect(redirect.status).toBe(302);
    expect(redirect.headers.get('location')).toBe('http://127.0.0.1:1/elsewhere');
  });

  it('rejects when the node cannot be reached', async () => {
    const unreachable = { id: 'n', advertiseUrl: 'http://127.0.0.1:1' };
    await expect(
      nodeHttpTransport.fetch(unreachable, '/echo', {
        method: 'GET',
        signal: new AbortController().signal,
      }),
    ).rejects.toThrow();
  });

  it('gives up connecting to a node that does not accept after connectTimeoutMs', async () => {
    const blackhole = await startBlackhole();
    try {
      const transport = createNodeHttpTransport({ connectTimeoutMs: 200 });
      const call = transport.fetch({ id: 'n', advertiseUrl: blackhole.url }, '/echo', {
        method: 'GET',
        signal: new AbortController().signal,
      });
      await expect(call).rejects.toBeInstanceOf(NodeConnectTimeoutError);
      await expect(call).rejects.toThrow(/connect timeout/);
      // A node that accepts is unaffected.
      const ok = await transport.fetch(node(), '/echo', {
        method: 'POST',
        body: 'x',
        signal: new AbortController().signal,
      });
      expect(ok.status).toBe(201);
    } finally {
      await blackhole.close();
    }
  });

  it('streams chunks as they come, and cancelling the body closes the connection', async () => {
    const res = await nodeHttpTransport.fetch(node(), '/stream', {
      method: 'GET',
      signal: new AbortController().signal,
    });
    const reader = res.body?.getReader();
    const first = await reader?.read();
    expect(new TextDecoder().decode(first?.value)).toBe('data: 1\n\n');
    const before = closed.length;
    await reader?.cancel();
    await expect.poll(() => closed.length).toBe(before + 1);
  });

  it('aborting the signal mid-stream errors the body and closes the connection', async () => {
    const controller = new AbortController();
    const res = await nodeHttpTransport.fetch(node(), '/stream', {
      method: 'GET',
      signal: controller.signal,
    });
    const before = closed.length;
    controller.abort();
    await expect(res.text()).rejects.toThrow();
    await expect.poll(() => closed.length).toBe(before + 1);
  });

  it('errors the body when the node drops the connection mid-answer', async () => {
    const res = await nodeHttpTransport.fetch(node(), '/cut', {
      method: 'GET',
      signal: new AbortController().signal,
    });
    await expect(res.text()).rejects.toThrow();
  });
});
