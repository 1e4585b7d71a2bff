// /ui: the dashboard's static files, from whatever the host provides (AppDeps.uiAssets:
// the built folder on the Node host, the assets binding on Cloudflare), with the same
// headers on both: a content security policy that allows nothing but this origin (the
// page loads nothing from elsewhere), no framing, and caching by name (hashed files are
// immutable, index.html is revalidated so a new build is seen at once).
import { Hono } from 'hono';
import { notFound } from '../errors.ts';
import type { AppEnv, UiAssets } from '../types.ts';

export const UI_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot and the page set element styles; no style sheet comes from elsewhere.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "object-src 'none'",
].join('; ');

// esbuild's [name]-[hash] file names (gateway/ui/bundle.ts).
const HASHED = /-[A-Z0-9]{8}\.(?:js|css)$/;

export function uiApp(assets: UiAssets | undefined): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.get('/ui', (c) => c.redirect('/ui/', 308));

  app.get('/ui/*', async (c) => {
    if (!assets) {
      throw notFound(
        'this gateway serves no dashboard: build it with `npm run build:ui` (a checkout) or use the packaged gateway',
        'dashboard_not_built',
      );
    }
    const upstream = await assets(c.req.raw);
    const res = new Response(upstream.body, upstream);
    res.headers.set('content-security-policy', UI_CSP);
    res.headers.set('x-frame-options', 'DENY');
    res.headers.set('x-content-type-options', 'nosniff');
    res.headers.set('referrer-policy', 'no-referrer');
    if (res.ok) {
      res.headers.set(
        'cache-control',
        HASHED.test(c.req.path) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    }
    return res;
  });

  return app;
}
