// A database that hangs (every call never settles) must not hang the gateway: key lookups
// and routing-table loads give up after the database timeout, serving the last key entry
// and routing table while they can; usage writes give up and keep their events; and the
// Node host shuts down within its grace period.
import { drizzle } from 'drizzle-orm/libsql';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CreatedApiKeySchema } from '../../schema/admin.ts';
import * as schema from '../../schema/db.ts';
import { usageEvents } from '../../schema/db.ts';
import { createApp } from '../../gateway/src/app.ts';
import { startGateway } from '../../gateway/src/node.ts';
import { directTransport } from '../../gateway/src/proxy/transport.ts';
import { createSigner, generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import { migrateLibsql } from '../../gateway/src/store/migrate.ts';
import { createBatchingUsageSink, createDirectUsageSink } from '../../gateway/src/usage/sink.ts';
import type { UsageEvent } from '../../gateway/src/types.ts';
import { createHangingDb, settlesWithin, type HangingDb } from '../support/hanging-db.ts';
import { expectError, parseExact } from '../support/gateway-harness.ts';

const ADMIN = 'db-timeout-admin-token-0123';
// Generous: these tests check that answers come at all, never how fast.
const PATIENCE_MS = 20_000;
const DB_TIMEOUT_MS = 300;

let hanging: HangingDb | undefined;
afterEach(async () => {
  hanging?.resume();
  await hanging?.remove();
  hanging = undefined;
});

const event = (id: string): UsageEvent => ({
  id,
  clientRequestId: null,
  keyId: null,
  model: 'm',
  endpoint: '/v1/chat/completions',
  nodeId: null,
  instanceId: null,
  stream: false,
  status: 404,
  outcome: 'error',
  errorCode: 'model_not_found',
  promptTokens: 0,
  completionTokens: 0,
  totalTokens: 0,
  latencyMs: 1,
  ttftMs: null,
  createdAt: Date.now(),
});

describe('with a database that hangs', () => {
  it('serves the last key entry and routing table, and refuses an unknown key with 503', async () => {
    hanging = await createHangingDb();
    const db = drizzle(hanging.client(), { schema });
    await migrateLibsql(db);
    let clock = Date.now();
    const app = createApp({
      db,
      config: {
        adminToken: ADMIN,
        maxBodyBytes: 16 * 1024,
        heartbeatIntervalS: 5,
        cacheTtlMs: 1000,
        nodeJwtTtlS: 30,
        defaultMaxTokens: 4096,
      },
      signer: await createSigner(await generateSigningJwk()),
      usage: createDirectUsageSink(db, { writeTimeoutMs: DB_TIMEOUT_MS }),
      transport: directTransport,
      now: () => clock,
      dbTimeoutMs: DB_TIMEOUT_MS,
    });
    const created = await app.request('/admin/v1/keys', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'through-the-outage' }),
    });
    const { key } = parseExact(CreatedApiKeySchema, await created.json());
    const models = () => app.request('/v1/models', { headers: { authorization: `Bearer ${key}` } });
    const before = await models();
    expect(before.status).toBe(200);
    const listed: unknown = await before.json();

    // The cached key and table expire, and the database stops answering.
    clock += 1500;
    hanging.hang();
    const during = await settlesWithin(models(), PATIENCE_MS, '/v1/models with a hung database');
    expect(during.status).toBe(200);
    expect(await during.json()).toEqual(listed);

    // A key never seen cannot be served from memory: a clean 503, not a hung request.
    const unknown = await settlesWithin(
      app.request('/v1/models', {
        headers: { authorization: `Bearer sk-fg-${'x'.repeat(43)}` },
      }),
      PATIENCE_MS,
      'an unknown key with a hung database',
    );
    const body: unknown = await unknown.json();
    expectError(
      { status: unknown.status, headers: unknown.headers, body },
      503,
      'database_timeout',
    );
  });

  it('gives up a usage write and keeps its events for the next one', async () => {
    hanging = await createHangingDb();
    const db = drizzle(hanging.client(), { schema });
    await migrateLibsql(db);
    const sink = createBatchingUsageSink(db, {
      maxBatch: 100,
      flushMs: 60_000,
      writeTimeoutMs: DB_TIMEOUT_MS,
    });
    for (const id of ['u1', 'u2', 'u3']) await sink.record(event(id));
    hanging.hang();
    await expect(settlesWithin(sink.flush(), PATIENCE_MS, 'usage flush')).rejects.toThrow(
      /did not answer in time/,
    );
    expect(sink.stats()).toEqual({ pending: 3, dropped: 0, unspooled: 0 });
    hanging.resume();
    await sink.flush();
    const rows = await db.select({ id: usageEvents.id }).from(usageEvents);
    expect(rows.map((r) => r.id).sort()).toEqual(['u1', 'u2', 'u3']);
  });

  it('counts (and logs) the events it has to drop while writes fail', async () => {
    hanging = await createHangingDb();
    const db = drizzle(hanging.client(), { schema });
    await migrateLibsql(db);
    const sink = createBatchingUsageSink(db, {
      maxBatch: 100,
      flushMs: 60_000,
      maxBuffered: 2,
      writeTimeoutMs: DB_TIMEOUT_MS,
    });
    hanging.hang();
    for (const id of ['d1', 'd2', 'd3', 'd4', 'd5']) await sink.record(event(id));
    await expect(settlesWithin(sink.flush(), PATIENCE_MS, 'usage flush')).rejects.toThrow();
    expect(sink.stats()).toEqual({ pending: 2, dropped: 3, unspooled: 0 });
  });

  it('the Node host shuts down, keeping unwritten usage in its spool for the next start', async () => {
    hanging = await createHangingDb();
    const env = {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: hanging.url,
      FLEETGATE_PORT: '0',
      FLEETGATE_DB_TIMEOUT_MS: String(DB_TIMEOUT_MS),
    };
    const gw = await startGateway({ env, client: hanging.client() });
    const res = await fetch(`${gw.url}/admin/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'shutdown' }),
    });
    const { key } = parseExact(CreatedApiKeySchema, await res.json());
    // Operators see unwritten and dropped usage in /healthz.
    const health = await fetch(`${gw.url}/healthz`);
    expect(await health.json()).toEqual({
      status: 'ok',
      usage: { pending: 0, dropped: 0, unspooled: 0 },
    });
    const refused = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(refused.status).toBe(404);
    const requestId = refused.headers.get('x-request-id') ?? '';
    // The usage of that request waits for its batch; the database stops answering.
    hanging.hang();
    await settlesWithin(gw.close(), PATIENCE_MS, 'shutdown with a hung database');

    // The next start (the database answers again) writes what the spool kept.
    hanging.resume();
    const next = await startGateway({ env });
    try {
      const events = await fetch(`${next.url}/admin/v1/usage/events?limit=10`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      const list = z
        .object({ data: z.array(z.object({ id: z.string() })) })
        .parse(await events.json());
      expect(list.data.map((e) => e.id)).toContain(requestId);
    } finally {
      await next.close();
    }
  });
});
