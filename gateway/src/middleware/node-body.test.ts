// The Node host's direct body read, behind a real @hono/node-server on 127.0.0.1.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppEnv } from '../types.ts';
import { bodyLimit } from './body-limit.ts';

let server: ServerType;
let port = 0;
const failures: string[] = [];

beforeAll(async () => {
  const app = new Hono<AppEnv>();
  app.use('*', bodyLimit({ maxBytes: 1 << 20 }));
  app.post('/text', async (c) => {
    try {
      const text = await c.req.text();
      // The Web Request built after the read (the proxy asks for its signal) still works.
      return c.json({ text, aborted: c.req.raw.signal.aborted });
    } catch (err) {
      failures.push(err instanceof Error ? err.message : String(err));
      throw err;
    }
  });
  app.post('/json', async (c) => c.json(await c.req.json()));
  app.post('/bytes', async (c) =>
    c.json({ bytes: [...new Uint8Array(await c.req.arrayBuffer())] }),
  );
  // A handler that streams the Web Request's body gets it whole, as before.
  app.post('/raw', async (c) => c.json({ text: await new Response(c.req.raw.body).text() }));
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

// Sends the body in the pieces given, with a pause between them, under a declared length.
function post(path: string, pieces: Uint8Array[], declared?: number): Promise<unknown> {
  const length = declared ?? pieces.reduce((n, p) => n + p.byteLength, 0);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', headers: { 'content-length': length } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(JSON.parse(text)));
      },
    );
    req.on('error', reject);
    void (async () => {
      for (const piece of pieces) {
        req.write(piece);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (declared === undefined) req.end();
      else req.destroy();
    })();
  });
}

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('the Node host body read', () => {
  it('reads a body sent in pieces whole, a character split between pieces included', async () => {
    const bytes = utf8('{"note":"héllo wörld"}');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two bytes of é
    const pieces = [bytes.subarray(0, cut), bytes.subarray(cut)];
    expect(await post('/text', pieces)).toEqual({
      text: '{"note":"héllo wörld"}',
      aborted: false,
    });
    expect(await post('/json', pieces)).toEqual({ note: 'héllo wörld' });
    expect(await post('/bytes', [new Uint8Array([0, 255, 128])])).toEqual({ bytes: [0, 255, 128] });
    expect(await post('/raw', pieces)).toEqual({ text: '{"note":"héllo wörld"}' });
  });

  it('fails the read of a client that leaves before its body is complete', async () => {
    await expect(post('/text', [utf8('{"half":')], 100)).rejects.toThrow();
    // Node reports it as an error ('aborted') on the IncomingMessage, then closes it.
    await expect.poll(() => failures).toHaveLength(1);
  });
});
