// The admin API's OpenAPI document: every route of the app documented and every documented
// route served, valid OpenAPI 3.1 (checked by an OpenAPI validator), served at
// /admin/v1/openapi.json and rendered at /admin/v1/docs behind the admin token, publicly, or
// not at all, as FLEETGATE_API_DOCS says.
import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { buildOpenApiDocument } from '../../gateway/src/admin/openapi.ts';
import {
  ADMIN_TOKEN,
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

const DocumentSchema = z.looseObject({
  openapi: z.string(),
  paths: z.record(z.string(), z.record(z.string(), z.looseObject({ operationId: z.string() }))),
});

// `GET /admin/v1/keys/{id}` from Hono's `/admin/v1/keys/:id`.
const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, '{$1}');

describe('the OpenAPI document', () => {
  let h: GatewayHarness;
  let pub: GatewayHarness;
  let off: GatewayHarness;

  beforeAll(async () => {
    h = await startGatewayHarness();
    pub = await startGatewayHarness({ config: { apiDocs: 'public' } });
    off = await startGatewayHarness({ config: { apiDocs: 'off' } });
  });
  afterAll(async () => {
    await Promise.all([h.close(), pub.close(), off.close()]);
  });

  it('documents every admin route, and only routes that exist', async () => {
    const res = await h.adminOk(DocumentSchema, 'GET', '/openapi.json');
    const documented = Object.entries(res.body.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );
    const routes = h.app.routes
      .filter((r) => r.method !== 'ALL')
      .map((r) => `${r.method} ${openApiPath(r.path)}`);
    // The admin API, and the key holder's own endpoint.
    const described = routes.filter((r) => r.includes(' /admin/v1/') || r === 'GET /v1/key');
    expect(described).toContain('GET /v1/key');
    expect(new Set(documented)).toEqual(new Set(described));
    expect(documented).toHaveLength(new Set(documented).size);
    const ids = Object.values(res.body.paths).flatMap((item) =>
      Object.values(item).map((op) => op.operationId),
    );
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const result = await validator.validate(buildOpenApiDocument({ docsPublic: false }));
    expect(result.errors).toBeUndefined();
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('describes requests and answers from the handlers’ own schemas', () => {
    const doc = buildOpenApiDocument({ docsPublic: false });
    const text = JSON.stringify(doc);
    // The key's create body (name, models, expires_at) and its answer with the secret.
    expect(text).toContain('"CreatedApiKey"');
    const paths = doc.paths as Record<string, Record<string, Record<string, unknown>>>;
    const create = paths['/admin/v1/keys']?.post;
    expect(JSON.stringify(create?.requestBody)).toContain('"expires_at"');
    const usage = paths['/admin/v1/usage']?.get?.parameters as { name: string }[];
    expect(usage.map((p) => p.name)).toEqual(['from', 'to', 'group_by']);
  });

  it('is behind the admin token by default, with the page', async () => {
    expectError(await h.call('GET', '/admin/v1/openapi.json'), 401, 'missing_admin_token');
    expectError(await h.call('GET', '/admin/v1/docs'), 401, 'missing_admin_token');
    const page = await h.app.request('/admin/v1/docs', {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('<code>/admin/v1/deployments/{id}/logs</code>');
    expect(html).toContain('id="schema-Deployment"');
    // Nothing loaded from elsewhere, nothing run: it works offline.
    expect(html).not.toMatch(/<script|<link|src=|href="https?:/);
  });

  it('can be public (the rest of the admin API still is not), or off', async () => {
    const doc = await pub.call('GET', '/admin/v1/openapi.json');
    expect(doc.status).toBe(200);
    expect((await pub.app.request('/admin/v1/docs')).status).toBe(200);
    expectError(await pub.call('GET', '/admin/v1/keys'), 401, 'missing_admin_token');
    expectError(await off.admin('GET', '/openapi.json'), 404, 'unknown_url');
    expectError(await off.admin('GET', '/docs'), 404, 'unknown_url');
  });
});
