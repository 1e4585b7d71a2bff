// The app shell through createApp + app.request(): health, request ids, unknown routes and
// the body limit on every API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorBodySchema } from '../../schema/admin.ts';
import { createTempDb } from '../../gateway/src/testing/temp-db.ts';
import {
  ADMIN_TOKEN,
  expectError,
  MAX_BODY,
  parseExact,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

const HealthSchema = z.object({ status: z.string() });

describe('the app shell', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers /healthz when the database works, without credentials', async () => {
    const res = await h.callOk(HealthSchema, 'GET', '/healthz');
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('ok');
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers /healthz with 503 when the database is gone', async () => {
    const broken = await createTempDb();
    const brokenApp = h.build(broken.db);
    await broken.close();
    const res = await brokenApp.request('/healthz');
    expect(res.status).toBe(503);
    expect(parseExact(ErrorBodySchema, await res.json()).error.code).toBe('database_unreachable');
  });

  it('answers with its own x-request-id and echoes a sane client id as x-client-request-id', async () => {
    for (const header of ['x-request-id', 'x-client-request-id']) {
      const kept = await h.call('GET', '/healthz', { headers: { [header]: 'client-id_1.2:3' } });
      expect(kept.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(kept.headers.get('x-client-request-id')).toBe('client-id_1.2:3');
    }
    for (const bad of ['has space', 'x'.repeat(200), 'quote"d']) {
      const res = await h.call('GET', '/healthz', { headers: { 'x-request-id': bad } });
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('x-client-request-id')).toBeNull();
    }
  });

  it('answers unknown routes with 404 in OpenAI shape', async () => {
    const error = expectError(await h.call('GET', '/nope'), 404, 'unknown_url');
    expect(error.type).toBe('not_found_error');
    expect(error.message).toContain('/nope');
  });

  it('refuses bodies over the limit with 413 on every API, on a connection that stays usable', async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const key = await h.createKey();
    for (const [path, token] of [
      ['/admin/v1/keys', ADMIN_TOKEN],
      ['/v1/chat/completions', key.key],
    ] as const) {
      const res = await h.call('POST', path, { token, raw: JSON.stringify({ name: big }) });
      const error = expectError(res, 413, 'request_too_large');
      expect(error.type).toBe('invalid_request_error');
      // The rest of the body was read and thrown away: nothing asks the client to reconnect.
      expect(res.headers.get('connection')).toBeNull();
    }
    // Just under the limit is fine.
    const ok = await h.call('POST', '/admin/v1/keys', {
      token: ADMIN_TOKEN,
      raw: JSON.stringify({ name: 'n'.repeat(200) }).padEnd(MAX_BODY, ' '),
    });
    expect(ok.status).toBe(400); // a 200-character name is too long, but the body was read
  });

  // A chunked body of `total` bytes in 4 KiB chunks, counting what the gateway pulled.
  function chunkedBody(total: number) {
    const chunk = new TextEncoder().encode('x'.repeat(4096));
    const counter = { sent: 0 };
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (counter.sent >= total) controller.close();
        else {
          counter.sent += chunk.length;
          controller.enqueue(chunk);
        }
      },
    });
    return { body, counter };
  }

  it('counts a chunked body as it is read, and drains the rest before the 413', async () => {
    const { body, counter } = chunkedBody(MAX_BODY * 4);
    const res = await h.app.request('/admin/v1/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: { code: 'request_too_large' } });
    expect(res.headers.get('connection')).toBeNull();
    expect(counter.sent).toBe(MAX_BODY * 4);
  });

  it('checks credentials from the headers before reading any of the body', async () => {
    for (const [path, token] of [
      ['/v1/chat/completions', 'sk-fg-not-a-real-key-000000000000'],
      ['/admin/v1/keys', 'wrong-admin-token-0000'],
      ['/node/v1/heartbeat', 'fgn-whatever'],
    ] as const) {
      const { body, counter } = chunkedBody(MAX_BODY * 64);
      const res = await h.app.request(path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(401);
      // At most what the stream machinery buffers ahead, never the body up to the limit.
      expect(counter.sent).toBeLessThan(MAX_BODY);
    }
  });
});
