// GET /admin/v1/openapi.json and /admin/v1/docs. The document is built once per app, on
// first request.
import { Hono } from 'hono';
import type { AppEnv } from '../types.ts';
import { renderDocsPage } from './docs-page.ts';
import { buildOpenApiDocument, type DocumentOptions } from './openapi.ts';

export function apiDocsApp(opts: DocumentOptions): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  let doc: Record<string, unknown> | undefined;
  let page: string | undefined;
  const document = () => (doc ??= buildOpenApiDocument(opts));

  app.get('/openapi.json', (c) => c.json(document()));
  app.get('/docs', (c) => {
    page ??= renderDocsPage(document());
    // Nothing on the page may load from elsewhere or run.
    c.header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'");
    return c.html(page);
  });
  return app;
}
