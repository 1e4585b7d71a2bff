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

  it('refuses bodies over the limit with 413 before reading them, on every API', async () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const key = await h.createKey();
    for (const [path, token] of [
      ['/admin/v1/keys', ADMIN_TOKEN],
      ['/v1/chat/completions', key.key],
      ['/node/v1/heartbeat', 'fgn-whatever'],
    ] as const) {
      const res = await h.call('POST', path, { token, raw: JSON.stringify({ name: big }) });
      const error = expectError(res, 413, 'request_too_large');
      expect(error.type).toBe('invalid_request_error');
      expect(res.headers.get('connection')).toBe('close');
    }
    // Just under the limit is fine.
    const ok = await h.call('POST', '/admin/v1/keys', {
      token: ADMIN_TOKEN,
      raw: JSON.stringify({ name: 'n'.repeat(200) }).padEnd(MAX_BODY, ' '),
    });
    expect(ok.status).toBe(400); // a 200-character name is too long, but the body was read
  });

  it('counts a chunked body as it arrives', async () => {
    const chunk = new TextEncoder().encode('x'.repeat(4096));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > MAX_BODY * 4) controller.close();
        else {
          sent += chunk.length;
          controller.enqueue(chunk);
        }
      },
    });
    const res = await h.app.request('/admin/v1/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(MAX_BODY * 4);
  });
});
