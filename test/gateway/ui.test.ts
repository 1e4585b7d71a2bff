// The dashboard's files on the Node host (gateway/src/node.ts in-process over real HTTP):
// served from the folder the tests' vitest config built (gateway/ui/dist), with the same
// headers the Worker adds (test/worker/ui.test.ts), and nothing outside that folder.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import { UI_CSP } from '../../gateway/src/ui/serve.ts';

let dir: string;
let gateway: RunningGateway;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-ui-'));
  gateway = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: 'ui-admin-token-0123456789',
      FLEETGATE_DB_URL: `file:${join(dir, 'fleetgate.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HOST: '127.0.0.1',
    },
  });
});
afterAll(async () => {
  await gateway?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('/ui on the Node host', () => {
  it('redirects /ui to /ui/ and serves the page with its security headers', async () => {
    const bare = await fetch(`${gateway.url}/ui`, { redirect: 'manual' });
    expect(bare.status).toBe(308);
    expect(bare.headers.get('location')).toBe('/ui/');

    const page = await fetch(`${gateway.url}/ui/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(UI_CSP);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const html = await page.text();
    expect(html).toContain('<div id="app">');
    // Everything the page loads is on this origin.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);

    const script = /src="\.\/(app-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
    const style = /href="\.\/(style-[A-Z0-9]{8}\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    const js = await fetch(`${gateway.url}/ui/${script}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect((await js.text()).length).toBeGreaterThan(10_000);
    const css = await fetch(`${gateway.url}/ui/${style}`);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toContain('.uplot');

    const etag = page.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await fetch(`${gateway.url}/ui/`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
  });

  it('answers 404 for any other name, and never reads outside the folder', async () => {
    for (const path of [
      '/ui/nope.js',
      '/ui/..%2f..%2fpackage.json',
      '/ui/%2e%2e/%2e%2e/package.json',
      '/ui/bundle.ts',
    ]) {
      const res = await fetch(`${gateway.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await res.text()).not.toContain('"name": "fleetgate"');
    }
  });
});
