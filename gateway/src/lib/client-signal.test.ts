// The client's abort signal, behind a real @hono/node-server on 127.0.0.1 and app.request.
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientSignal } from './client-signal.ts';

const seen: { path: string; signal: AbortSignal }[] = [];
const app = new Hono();
app.get('/quick', (c) => {
  seen.push({ path: '/quick', signal: clientSignal(c) });
  return c.text('done');
});
// Answers the headers, then holds the body open until the client goes away.
app.get('/held', (c) => {
  const signal = clientSignal(c);
  seen.push({ path: '/held', signal });
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('first'));
      signal.addEventListener('abort', () => controller.close());
    },
  });
  return c.body(body);
});
app.get('/same', (c) =>
  c.json({ same: clientSignal(c) === clientSignal(c), raw: clientSignal(c) === c.req.raw.signal }),
);

let server: ServerType;
let port = 0;
beforeAll(async () => {
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

describe('clientSignal', () => {
  it('stays quiet for an answer that was sent, and aborts when the client leaves first', async () => {
    const quick = await fetch(`http://127.0.0.1:${port}/quick`);
    expect(await quick.text()).toBe('done');
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.find((s) => s.path === '/quick')?.signal.aborted).toBe(false);

    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/held' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.once('close', () => resolve());
      req.end();
      setTimeout(() => reject(new Error('no answer')), 5000);
    });
    const held = seen.find((s) => s.path === '/held')?.signal;
    await expect.poll(() => held?.aborted).toBe(true);
    // As @hono/node-server words it: the request's error, else a premature close.
    expect(['Error: aborted', 'Client connection prematurely closed.']).toContain(held?.reason);
  });

  it('is one signal per request on the Node host, and the Request signal elsewhere', async () => {
    const node = await fetch(`http://127.0.0.1:${port}/same`);
    expect(await node.json()).toEqual({ same: true, raw: false });
    const elsewhere = await app.request('/same');
    expect(await elsewhere.json()).toEqual({ same: true, raw: true });
  });
});
