// Access logs through the whole app (createApp + app.request, lines captured from the
// writer), and from the Node host as a real process (lines on its stdout).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DeploymentSchema } from '../../schema/admin.ts';
import type { AccessLogEntry } from '../../gateway/src/middleware/access-log.ts';
import { startFakeEngine, type FakeEngine } from '../../gateway/src/testing/fake-engine.ts';
import {
  ADMIN_TOKEN,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';
import { startService } from '../support/processes.ts';

describe('access log', () => {
  let h: GatewayHarness;
  let engine: FakeEngine;
  let key: string;
  let keyId: string;
  let nodeId: string;
  let instanceId: string;
  const lines: AccessLogEntry[] = [];
  const lineFor = (requestId: string | null) => lines.filter((l) => l.request_id === requestId);

  beforeAll(async () => {
    h = await startGatewayHarness({ accessLog: (e) => lines.push(e) });
    engine = await startFakeEngine({ jwks: () => h.signer.jwks() });
    const node = await h.registerNode('logged-node', engine.url);
    nodeId = node.node_id;
    const dep = await h.adminOk(DeploymentSchema, 'POST', '/deployments', {
      model: 'logged-model',
      recipe: 'external',
      options: { url: engine.url },
      placement: { node_id: node.node_id },
    });
    instanceId = dep.body.instances[0]?.id ?? '';
    await h.heartbeat(node.node_secret, [
      { instance_id: instanceId, deployment_id: dep.body.id, state: 'ready' },
    ]);
    const created = await h.createKey({ name: 'logged' });
    key = created.key;
    keyId = created.id;
  });
  afterAll(async () => {
    await engine.close();
    await h.close();
  });

  it('writes one line per admin request, without the query string or the admin token', async () => {
    const res = await h.admin('GET', '/usage?from=1000&to=2000');
    expect(res.status).toBe(200);
    const [line, ...more] = lineFor(res.headers.get('x-request-id'));
    expect(more).toEqual([]);
    expect(line).toMatchObject({
      method: 'GET',
      path: '/admin/v1/usage',
      status: 200,
      key_id: null,
      model: null,
      ttft_ms: null,
      outcome: 'ok',
      error_code: null,
    });
    expect(line?.time).toBe(new Date(h.clock.now()).toISOString());
    expect(JSON.stringify(line)).not.toContain(ADMIN_TOKEN);
  });

  it('names the error of a refused request, never the key that was sent', async () => {
    const bogus = `sk-fg-${'Z'.repeat(43)}`;
    const res = await h.call('GET', '/v1/models', {
      token: bogus,
      headers: { 'x-client-request-id': 'my-trace-1' },
    });
    expect(res.status).toBe(401);
    const [line] = lineFor(res.headers.get('x-request-id'));
    expect(line).toMatchObject({
      status: 401,
      outcome: 'error',
      error_code: 'invalid_api_key',
      client_request_id: 'my-trace-1',
    });
    expect(JSON.stringify(line)).not.toContain('ZZZZ');
  });

  it('writes a proxied answer with its key, model, node and instance', async () => {
    const body = JSON.stringify({
      model: 'logged-model',
      messages: [{ role: 'user', content: 'x' }],
    });
    const res = await h.call('POST', '/v1/chat/completions', {
      token: key,
      raw: body,
      // As an HTTP client sends it (app.request does not add it).
      headers: { 'content-length': String(new TextEncoder().encode(body).byteLength) },
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    await expect.poll(() => lineFor(id).length).toBe(1);
    expect(lineFor(id)[0]).toMatchObject({
      method: 'POST',
      path: '/v1/chat/completions',
      status: 200,
      key_id: keyId,
      model: 'logged-model',
      node_id: nodeId,
      instance_id: instanceId,
      bytes_in: new TextEncoder().encode(body).byteLength,
      ttft_ms: null,
      outcome: 'ok',
    });
    expect(JSON.stringify(lineFor(id))).not.toContain(key);
  });

  it('writes a stream when it ends, with its time to first token and size', async () => {
    const res = await h.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'logged-model', stream: true, messages: [] }),
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    // Nothing yet: the stream has not been read, so the request is not over.
    expect(lineFor(id)).toEqual([]);
    const text = await res.text();
    await expect.poll(() => lineFor(id).length).toBe(1);
    const [line] = lineFor(id);
    expect(line).toMatchObject({
      status: 200,
      model: 'logged-model',
      node_id: nodeId,
      instance_id: instanceId,
      outcome: 'ok',
      bytes_out: new TextEncoder().encode(text).byteLength,
    });
    expect(line?.ttft_ms).toEqual(expect.any(Number));
  });

  it('writes a stream the client left as client_aborted', async () => {
    const res = await h.app.request('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'logged-model', stream: true, scenario: 'slow', messages: [] }),
    });
    const id = res.headers.get('x-request-id');
    const reader = res.body?.getReader();
    await reader?.read();
    await reader?.cancel();
    await expect.poll(() => lineFor(id)[0]?.outcome).toBe('client_aborted');
  });
});

describe('access log of the Node host process', () => {
  const LineSchema = z.object({ request_id: z.string(), path: z.string(), status: z.number() });

  for (const format of ['json', 'text'] as const) {
    it(`writes ${format} lines on stdout`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'fleetgate-access-log-'));
      const gateway = await startService({
        name: 'gateway',
        entry: 'gateway/src/node.ts',
        env: {
          FLEETGATE_ADMIN_TOKEN: ADMIN_TOKEN,
          FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
          FLEETGATE_PORT: '0',
          FLEETGATE_HOST: '127.0.0.1',
          FLEETGATE_ACCESS_LOG: format,
        },
        ready: /listening on (http:\S+)/,
      });
      try {
        const url = /listening on (http:\S+)/.exec(gateway.readyLine)?.[1] ?? '';
        const res = await fetch(`${url}/healthz`);
        expect(res.status).toBe(200);
        const id = res.headers.get('x-request-id') ?? '';
        await expect.poll(() => gateway.output().includes(id)).toBe(true);
        const line =
          gateway
            .output()
            .split('\n')
            .find((l) => l.includes(id)) ?? '';
        if (format === 'json') {
          expect(LineSchema.parse(JSON.parse(line))).toEqual({
            request_id: id,
            path: '/healthz',
            status: 200,
          });
        } else {
          expect(line).toMatch(new RegExp(`^\\S+Z ${id} GET /healthz 200 \\d+ms ttft=- key=- `));
        }
      } finally {
        await gateway.stop();
        await rm(dir, { recursive: true, force: true });
      }
    });
  }
});
