// The Node host (gateway/src/node.ts): in-process through startGateway() over real HTTP on
// an ephemeral 127.0.0.1 port, and once as its own process to check the start line and a
// clean stop on SIGTERM.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpRequest, Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ApiKeyListSchema, CreatedApiKeySchema } from '../../schema/admin.ts';
import { startGateway } from '../../gateway/src/node.ts';
import { parseExact } from '../support/gateway-harness.ts';
import { startService } from '../support/processes.ts';

const ADMIN = 'node-host-admin-token-0123';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-node-host-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = (db: string, extra: Record<string, string> = {}) => ({
  FLEETGATE_ADMIN_TOKEN: ADMIN,
  FLEETGATE_DB_URL: `file:${join(dir, db)}`,
  FLEETGATE_PORT: '0',
  FLEETGATE_HOST: '127.0.0.1',
  ...extra,
});

async function admin<S extends z.ZodType>(
  schema: S,
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<z.output<S>> {
  const res = await fetch(`${url}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.ok).toBe(true);
  return parseExact(schema, await res.json());
}

// One request on a given keep-alive agent, so a test controls connection reuse.
function send(
  agent: Agent,
  url: string,
  path: string,
  body: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${url}${path}`,
      {
        agent,
        method: 'POST',
        headers: {
          authorization: `Bearer ${ADMIN}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('startGateway', () => {
  it('creates the database folder, migrates, serves, and keeps its signing key across restarts', async () => {
    const first = await startGateway({ env: env('nested/folder/gw.db') });
    expect(existsSync(join(dir, 'nested/folder/gw.db'))).toBe(true);
    expect(first.url).toBe(`http://127.0.0.1:${first.port}`);
    let jwks: unknown;
    try {
      const health = await fetch(`${first.url}/healthz`);
      expect(health.status).toBe(200);
      expect(health.headers.get('x-request-id')).toBeTruthy();
      jwks = await (await fetch(`${first.url}/node/v1/jwks`)).json();
      await admin(CreatedApiKeySchema, first.url, 'POST', '/keys', { name: 'kept' });
    } finally {
      await first.close();
    }
    await expect(fetch(`${first.url}/healthz`)).rejects.toThrow();

    const second = await startGateway({ env: env('nested/folder/gw.db') });
    try {
      expect(await (await fetch(`${second.url}/node/v1/jwks`)).json()).toEqual(jwks);
      const keys = await admin(ApiKeyListSchema, second.url, 'GET', '/keys');
      expect(keys.data.map((k) => k.name)).toEqual(['kept']);
    } finally {
      await second.close();
    }
  });

  it('writes buffered usage before it closes', async () => {
    const gw = await startGateway({ env: env('usage.db') });
    const key = await admin(CreatedApiKeySchema, gw.url, 'POST', '/keys', { name: 'u' });
    const res = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', messages: [] }),
    });
    expect(res.status).toBe(404);
    const requestId = res.headers.get('x-request-id');
    // The batching sink flushes after a second; close() must not wait for that or lose it.
    await gw.close();
    const client = createClient({ url: `file:${join(dir, 'usage.db')}` });
    try {
      const rows = await client.execute({
        sql: 'select key_id, status from usage_events where id = ?',
        args: [requestId],
      });
      expect(rows.rows).toEqual([expect.objectContaining({ key_id: key.id, status: 404 })]);
    } finally {
      client.close();
    }
  });

  it('drains an oversized body it refused, and serves the next request on the same connection', async () => {
    const gw = await startGateway({ env: env('limit.db', { FLEETGATE_MAX_BODY_BYTES: '2048' }) });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const big = await send(
        agent,
        gw.url,
        '/admin/v1/keys',
        JSON.stringify({ name: 'x'.repeat(1e6) }),
      );
      expect(big.status).toBe(413);
      expect(big.headers.connection).toBe('keep-alive');
      expect(JSON.parse(big.text)).toMatchObject({ error: { code: 'request_too_large' } });
      const next = await send(agent, gw.url, '/admin/v1/keys', JSON.stringify({ name: 'after' }));
      expect(next.status).toBe(201);
    } finally {
      agent.destroy();
      await gw.close();
    }
  });

  it('refuses to start with bad settings, naming the variable', async () => {
    await expect(startGateway({ env: env('bad.db', { FLEETGATE_PORT: 'http' }) })).rejects.toThrow(
      /FLEETGATE_PORT/,
    );
    await expect(
      startGateway({ env: { ...env('bad.db'), FLEETGATE_ADMIN_TOKEN: 'short' } }),
    ).rejects.toThrow(/FLEETGATE_ADMIN_TOKEN/);
  });
});

describe('the gateway process', () => {
  it('prints where it listens and exits 0 on SIGTERM', async () => {
    const service = await startService({
      name: 'gateway',
      entry: 'gateway/src/node.ts',
      env: env('process.db'),
      ready: /listening on http/,
    });
    expect(service.readyLine).toMatch(/^fleetgate gateway listening on http:\/\/127\.0\.0\.1:\d+$/);
    const url = /(http:\/\/\S+)/.exec(service.readyLine)?.[1] ?? '';
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => service.child.once('exit', resolve));
    service.child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('exits 1 with a clear message when misconfigured', async () => {
    const { FLEETGATE_ADMIN_TOKEN: _omitted, ...rest } = env('process2.db');
    const service = await startService({
      name: 'gateway',
      entry: 'gateway/src/node.ts',
      env: { ...rest, FLEETGATE_ADMIN_TOKEN: '' },
      ready: /failed to start/,
    });
    const exited = new Promise<number | null>((resolve) => {
      if (service.child.exitCode !== null) resolve(service.child.exitCode);
      else service.child.once('exit', resolve);
    });
    expect(service.readyLine).toContain('FLEETGATE_ADMIN_TOKEN');
    expect(await exited).toBe(1);
  });
});
