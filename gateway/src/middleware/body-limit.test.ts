import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import type { AppEnv } from '../types.ts';
import { bodyLimit } from './body-limit.ts';

// An app whose handler reports the body it read and whether it got the client's Request.
function appWith(options: Parameters<typeof bodyLimit>[0]) {
  const app = new Hono<AppEnv>();
  const seen: Request[] = [];
  app.use('*', async (c, next) => {
    seen.push(c.req.raw);
    await next();
  });
  app.use('*', bodyLimit(options));
  app.post('*', async (c) => {
    const text = await c.req.text();
    return c.json({ bytes: text.length, same: c.req.raw === seen.at(-1) });
  });
  app.onError((err, c) =>
    err instanceof ApiError ? c.json(err.body(), err.status) : c.text('bug', 500),
  );
  return app;
}

function chunked(bytes: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const n = Math.min(100, bytes - sent);
      sent += n;
      controller.enqueue(new Uint8Array(n).fill(120));
    },
  });
}

const post = (app: Hono<AppEnv>, path: string, init: RequestInit) =>
  app.request(path, { method: 'POST', duplex: 'half', ...init } as RequestInit);

describe('bodyLimit', () => {
  it('leaves a body of declared length within the bound as it came, with the bound per path', async () => {
    const app = appWith({ maxBytes: 1000, maxBytesByPath: { '/upload': 4000 } });
    for (const [path, size] of [
      ['/x', 1000],
      ['/upload', 4000],
    ] as const) {
      const res = await post(app, path, {
        body: 'x'.repeat(size),
        headers: { 'content-length': String(size) },
      });
      expect(await res.json()).toEqual({ bytes: size, same: true });
    }
    const over = await post(app, '/x', {
      body: 'x'.repeat(2000),
      headers: { 'content-length': '2000' },
    });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('counts a body of unknown length as it is read', async () => {
    const app = appWith({ maxBytes: 1000 });
    const ok = await post(app, '/x', { body: chunked(1000) });
    expect(await ok.json()).toEqual({ bytes: 1000, same: false });
    const over = await post(app, '/x', { body: chunked(1001) });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: { code: 'request_too_large' } });
  });

  it('counts a body whose Content-Length is not a plain number', async () => {
    const app = appWith({ maxBytes: 1000 });
    const res = await post(app, '/x', {
      body: chunked(1001),
      headers: { 'content-length': '1e2' },
    });
    expect(res.status).toBe(413);
  });
});
