// The dashboard on the Cloudflare host: the Worker's /ui route reads the files through
// the ASSETS binding that wrangler.toml's [assets] declares (the folder the vitest config
// built), and adds the same headers as the Node host (test/gateway/ui.test.ts).
import { exports } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { UI_CSP } from '../../gateway/src/ui/serve.ts';

const ORIGIN = 'http://fleetgate.test';

it('serves the dashboard through the assets binding', async () => {
  const bare = await exports.default.fetch(`${ORIGIN}/ui`, { redirect: 'manual' });
  expect(bare.status).toBe(308);

  const page = await exports.default.fetch(`${ORIGIN}/ui/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/^text\/html/);
  expect(page.headers.get('content-security-policy')).toBe(UI_CSP);
  expect(page.headers.get('cache-control')).toBe('no-cache');
  const html = await page.text();
  expect(html).toContain('<div id="app">');

  const script = /src="\.\/(app-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
  expect(script).toBeDefined();
  const js = await exports.default.fetch(`${ORIGIN}/ui/${script}`);
  expect(js.status).toBe(200);
  expect(js.headers.get('content-type')).toMatch(/^(text|application)\/javascript/);
  expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect((await js.text()).length).toBeGreaterThan(10_000);

  const missing = await exports.default.fetch(`${ORIGIN}/ui/nope.js`);
  expect(missing.status).toBe(404);
  await missing.body?.cancel();
});
