// CORS on /v1 through the whole app: off by default, the preflight answered for configured
// origins (with whatever headers the OpenAI SDK asks for), ids and limits exposed, errors
// readable by the page, and never on /admin/v1 or /node/v1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CORS_EXPOSED_HEADERS } from '../../gateway/src/middleware/cors.ts';
import { startGatewayHarness, type GatewayHarness } from '../support/gateway-harness.ts';

const APP = 'https://app.example.com';
const preflight = (origin = APP) => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': 'POST',
    'access-control-request-headers': 'authorization, content-type, x-stainless-os',
  },
});

describe('CORS on /v1', () => {
  let h: GatewayHarness;
  let off: GatewayHarness;
  let any: GatewayHarness;
  let key: string;

  beforeAll(async () => {
    h = await startGatewayHarness({ config: { corsOrigins: [APP, 'http://localhost:5173'] } });
    off = await startGatewayHarness();
    any = await startGatewayHarness({ config: { corsOrigins: '*' } });
    key = (await h.createKey()).key;
  });
  afterAll(async () => {
    await Promise.all([h.close(), off.close(), any.close()]);
  });

  it('answers the preflight of a configured origin', async () => {
    const res = await h.app.request('/v1/chat/completions', preflight());
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(APP);
    expect(res.headers.get('access-control-allow-methods')).toContain('POST');
    expect(res.headers.get('access-control-allow-headers')).toBe(
      'authorization,content-type,x-stainless-os',
    );
    expect(res.headers.get('access-control-max-age')).toBe('7200');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('lets the page read answers, their ids and limits, and errors', async () => {
    const ok = await h.app.request('/v1/models', {
      headers: { origin: APP, authorization: `Bearer ${key}` },
    });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
    const exposed = ok.headers.get('access-control-expose-headers')?.split(',') ?? [];
    expect(exposed).toEqual(CORS_EXPOSED_HEADERS);
    expect(exposed).toEqual(
      expect.arrayContaining(['x-request-id', 'x-ratelimit-remaining-requests', 'retry-after']),
    );
    const refused = await h.app.request('/v1/models', {
      headers: { origin: APP, authorization: 'Bearer sk-fg-wrong' },
    });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('access-control-allow-origin')).toBe(APP);
  });

  it('gives nothing to an origin that is not configured', async () => {
    const pre = await h.app.request('/v1/chat/completions', preflight('https://evil.example'));
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await h.app.request('/v1/models', {
      headers: { origin: 'https://evil.example', authorization: `Bearer ${key}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('is never on /admin/v1 or /node/v1', async () => {
    for (const path of ['/admin/v1/keys', '/node/v1/heartbeat', '/node/v1/register']) {
      const pre = await h.app.request(path, preflight());
      expect(pre.status).not.toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      const res = await h.app.request(path, { method: 'POST', headers: { origin: APP } });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
  });

  it('is off by default, and allows any origin with *', async () => {
    const pre = await off.app.request('/v1/chat/completions', preflight());
    expect(pre.status).toBe(401);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const star = await any.app.request('/v1/chat/completions', preflight());
    expect(star.status).toBe(204);
    expect(star.headers.get('access-control-allow-origin')).toBe('*');
  });
});
