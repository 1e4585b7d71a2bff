// The dashboard in a real browser: Debian's chromium, headless, driven by playwright-core
// (the library alone: it never downloads a browser), against the real Node-host stack (a
// gateway process, a gpu-node daemon, the engine simulator as its own process). It logs in
// with a user made through the admin API, finds the node and its instance, creates a key
// (its secret shown once) and revokes it, finds that in the audit log, sees the charts
// drawn, downloads the usage CSV, follows a log line the engine prints after the page
// opened, creates, scales and deletes deployments, and checks what a viewer can do. Each
// page's screenshot is saved under test/output/console/.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createDeployment,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';

const CHROMIUM = process.env.FLEETGATE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
const OUTPUT = fileURLToPath(new URL('../output/console/', import.meta.url));
const MODEL = `console-sim-${process.pid}`;
const USER = { username: 'operator', password: 'a long browser test passphrase', role: 'admin' };

if (!HAVE_CHROMIUM) {
  const message = `no chromium at ${CHROMIUM} (apt-get install chromium, or set FLEETGATE_TEST_CHROMIUM)`;
  // CI installs it (.ci/run): there a missing browser is a failure, not a skip.
  if (process.env.CI) throw new Error(`the dashboard's browser test needs ${message}`);
  console.warn(`skipping the dashboard's browser test: ${message}`);
}

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let deploymentId: string;
let client: OpenAI;
let browser: Browser;
let page: Page;
// The browser opens the dashboard on localhost, which it counts as a secure origin, so
// it keeps the session cookie (Secure) over plain HTTP.
let ui: string;

async function chat(openai: OpenAI, content: string) {
  const { data, response } = await openai.chat.completions
    .create({
      model: MODEL,
      messages: [{ role: 'user', content }],
      stream: true,
      max_tokens: 8,
    })
    .withResponse();
  for await (const chunk of data) void chunk;
  return response.headers.get('x-request-id') ?? '';
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(OUTPUT, `${name}.png`) });
}

// Pixels of a chart's canvas close to `rgb` (a series' colour): proof the series was drawn,
// not just a box laid out.
function drawnPixels(chartId: string, rgb: [number, number, number]): Promise<number> {
  return page.evaluate(
    ({ chartId, rgb }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`#${chartId} canvas`);
      const ctx = canvas?.getContext('2d');
      if (!canvas || !ctx) return -1;
      const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
      let n = 0;
      for (let i = 0; i < data.length; i += 4) {
        const close =
          Math.abs((data[i] ?? 0) - rgb[0]) < 40 &&
          Math.abs((data[i + 1] ?? 0) - rgb[1]) < 40 &&
          Math.abs((data[i + 2] ?? 0) - rgb[2]) < 40;
        if (close && (data[i + 3] ?? 0) > 100) n++;
      }
      return n;
    },
    { chartId, rgb },
  );
}

const BLUE: [number, number, number] = [0x25, 0x63, 0xeb];

describe.skipIf(!HAVE_CHROMIUM)('the dashboard in headless chromium', () => {
  beforeAll(async () => {
    await mkdir(OUTPUT, { recursive: true });
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-console-'));
    gateway = await startGateway({
      dataDir: dir,
      adminToken: 'console-admin-token-0123456789',
      heartbeatIntervalS: 1,
    });
    ui = gateway.url.replace('127.0.0.1', 'localhost');
    node = await startNode({ gateway, name: 'console-node', configPath: join(dir, 'node.json') });
    const deployment = await createDeployment(gateway, {
      model: MODEL,
      recipe: 'sim',
      options: { ttft_ms: 5, itl_ms: 2, max_tokens: 16, seed: 7, log_requests: true },
      replicas: 1,
    });
    deploymentId = deployment.id;
    await waitForReady(gateway, deploymentId, 60_000);
    const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'traffic' });
    client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 });
    for (let i = 0; i < 6; i++) await chat(client, `warm-up ${i}`);
    // The usage rows are written in batches: wait until the charts have them.
    await waitFor('usage rows', async () => {
      const events = await gateway.admin.request<{ data: unknown[] }>('GET', '/usage/events');
      return events.data.length >= 6 ? true : undefined;
    });
    await gateway.admin.request('POST', '/users', USER);

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in CI: chromium's sandbox needs an unprivileged user.
      args: ['--no-sandbox'],
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    page = await context.newPage();
    page.on('dialog', (dialog) => void dialog.accept());
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await node?.service.stop();
    await gateway?.service.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses a wrong password, then logs in with the session cookie', async () => {
    await page.goto(`${ui}/ui/`);
    await page.fill('input[name=username]', USER.username);
    await page.fill('input[name=password]', 'not the password');
    await shot('login');
    await page.click('button[type=submit]');
    await expect
      .poll(() => page.textContent('form.login [role=alert]'))
      .toBe('Wrong username or password.');

    await page.fill('input[name=password]', USER.password);
    await page.click('button[type=submit]');
    await page.waitForSelector('#logout');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'fleetgate_session');
    expect(session?.httpOnly).toBe(true);
    expect(session?.sameSite).toBe('Strict');
    // Still logged in after a reload: the cookie, not page state, holds the session.
    await page.reload();
    await page.waitForSelector('#logout');
  });

  it('draws the overview charts from /admin/v1/stats', async () => {
    await page.goto(`${ui}/ui/#/overview`);
    await page.waitForSelector('#chart-requests canvas');
    await expect
      .poll(async () => Number(await page.getAttribute('#chart-requests', 'data-points')))
      .toBeGreaterThan(0);
    await expect.poll(() => drawnPixels('chart-requests', BLUE)).toBeGreaterThan(20);
    await expect
      .poll(async () => Number(await page.getAttribute('#chart-ttft', 'data-points')))
      .toBeGreaterThan(0);
    await shot('overview');
  });

  it('shows the node online with its instance ready', async () => {
    await page.goto(`${ui}/ui/#/nodes`);
    const card = page.locator('[data-node="console-node"]');
    await expect.poll(() => card.locator('.badge').textContent()).toBe('online');
    const instance = card.locator('table.instances tbody tr', { hasText: MODEL });
    await expect.poll(() => instance.locator('.state').textContent()).toBe('ready');
    await shot('nodes');
  });

  it('creates a key with a limit, shows its secret once, and revokes it', async () => {
    await page.goto(`${ui}/ui/#/keys`);
    await page.fill('#create-key input[name=name]', 'browser-key');
    await page.fill('#create-key input[name=requests_per_minute]', '600');
    await page.click('#create-key button[type=submit]');
    const secret = (await page.locator('#new-key-secret code.key').textContent()) ?? '';
    expect(secret).toMatch(/^sk-fg-/);
    const row = page.locator('tr[data-name="browser-key"]');
    await expect.poll(() => row.textContent()).toContain('Requests / min: 600');
    await shot('keys');

    // The secret works, and the page never shows it again.
    const holder = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: secret, maxRetries: 0 });
    expect((await holder.models.list()).data.map((m) => m.id)).toContain(MODEL);
    await page.click('#dismiss-secret');
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(secret);

    await row.locator('button.revoke').click();
    await row.waitFor({ state: 'detached' });
    const keys = await gateway.admin.request<{ data: { name: string }[] }>('GET', '/keys');
    expect(keys.data.map((k) => k.name)).not.toContain('browser-key');
    await expect(holder.models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('lists the users and the changes made, by whom, in the audit log', async () => {
    await page.goto(`${ui}/ui/#/users`);
    await page.locator(`tr[data-user="${USER.username}"]`).waitFor();
    await shot('users');
    await page.goto(`${ui}/ui/#/audit`);
    const revoked = page.locator('#audit tbody tr', { hasText: 'DELETE /admin/v1/keys/' });
    await expect.poll(() => revoked.first().textContent()).toContain(USER.username);
    await expect
      .poll(() => page.locator('#audit tbody tr', { hasText: 'POST /admin/v1/keys' }).count())
      .toBeGreaterThan(0);
    await shot('audit');
  });

  it('draws the usage chart and downloads the CSV', async () => {
    await page.goto(`${ui}/ui/#/usage`);
    await page.waitForSelector('#chart-usage canvas');
    await expect
      .poll(async () => Number(await page.getAttribute('#chart-usage', 'data-points')))
      .toBeGreaterThan(0);
    await expect.poll(() => drawnPixels('chart-usage', BLUE)).toBeGreaterThan(100);
    await expect.poll(() => page.textContent('#usage-table')).toContain(MODEL);
    await shot('usage');

    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#usage-csv')]);
    const path = await download.path();
    const csv = await readFile(path, 'utf8');
    const [header, ...lines] = csv.trim().split('\r\n');
    expect(header?.startsWith('model,requests,errors,')).toBe(true);
    const line = lines.find((l) => l.startsWith(`${MODEL},`));
    expect(Number(line?.split(',')[1])).toBeGreaterThanOrEqual(6);
  });

  it('follows a log line the engine prints after the page opened', async () => {
    await page.goto(`${ui}/ui/#/logs?deployment=${deploymentId}`);
    await expect.poll(() => page.textContent('#logs-status')).toBe('following');
    const requestId = await chat(client, 'a request made while the log is followed');
    expect(requestId).not.toBe('');
    await page.waitForFunction(
      (id) => document.querySelector('#log')?.textContent?.includes(`request_id=${id}`),
      requestId,
    );
    expect(await page.textContent('#log')).toMatch(
      new RegExp(`POST /v1/chat/completions 200 \\d+ ms request_id=${requestId}`),
    );
    await shot('logs');
  });

  it('creates, scales and deletes a deployment', async () => {
    await page.goto(`${ui}/ui/#/deployments`);
    const form = page.locator('#create-deployment');
    await form.locator('input[name=model]').fill('ui-made-model');
    await form.locator('select[name=recipe]').selectOption('sim');
    await form.locator('input[name=replicas]').fill('0');
    await form.locator('button[type=submit]').click();
    const card = page.locator('article.deployment', { hasText: 'ui-made-model' });
    await card.waitFor();

    await card.locator('input.replicas').fill('1');
    await card.locator('button.scale').click();
    await expect.poll(() => card.locator('table.instances tbody tr').count()).toBe(1);
    const listed = await gateway.admin.request<{ data: { model: string; replicas: number }[] }>(
      'GET',
      '/deployments',
    );
    expect(listed.data.find((d) => d.model === 'ui-made-model')?.replicas).toBe(1);
    await shot('deployments');

    await card.locator('button.delete').click();
    await card.waitFor({ state: 'detached' });
    const after = await gateway.admin.request<{ data: { model: string }[] }>('GET', '/deployments');
    expect(after.data.map((d) => d.model)).not.toContain('ui-made-model');
  });

  it('shows a viewer every page but no way to change anything', async () => {
    const viewer = { username: 'watcher', password: 'a viewer passphrase 42', role: 'viewer' };
    await gateway.admin.request('POST', '/users', viewer);
    const context = await browser.newContext();
    const viewerPage = await context.newPage();
    await viewerPage.goto(`${ui}/ui/#/keys`);
    await viewerPage.fill('input[name=username]', viewer.username);
    await viewerPage.fill('input[name=password]', viewer.password);
    await viewerPage.click('button[type=submit]');
    await viewerPage.locator('tr[data-name="traffic"]').waitFor();
    expect(await viewerPage.locator('#create-key').count()).toBe(0);
    expect(await viewerPage.locator('button.revoke').count()).toBe(0);
    await viewerPage.goto(`${ui}/ui/#/deployments`);
    await viewerPage.locator('article.deployment').first().waitFor();
    expect(
      await viewerPage.locator('#create-deployment, button.scale, button.delete').count(),
    ).toBe(0);
    await context.close();
  });
});
