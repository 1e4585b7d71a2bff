// API keys through the admin API (/admin/v1/keys) and their use on /v1: life cycle, expiry,
// the errors that tell bad keys apart, and validation.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyDetailSchema,
  ApiKeyListSchema,
  ApiKeySchema,
  DeletedApiKeySchema,
} from '../../schema/admin.ts';
import { apiKeys } from '../../schema/db.ts';
import { hashSecret } from '../../gateway/src/auth/secrets.ts';
import {
  ADMIN_TOKEN,
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('API keys', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('goes through its life: create, list, use, disable, enable, revoke', async () => {
    const created = await h.createKey({ name: 'lifecycle', models: ['a', 'b', 'a'] });
    expect(created).toMatchObject({
      object: 'api_key',
      name: 'lifecycle',
      models: ['a', 'b'],
      disabled: false,
      expires_at: null,
      last_used_at: null,
    });
    expect(created.id).toMatch(/^key_/);
    expect(created.key).toMatch(/^sk-fg-/);
    expect(created.prefix).toBe(created.key.slice(0, 10));
    expect(Math.abs(created.created_at - h.clock.now() / 1000)).toBeLessThan(2);
    const secret = created.key;

    // Stored only as its hash.
    const [row] = await h.db.select().from(apiKeys).where(eq(apiKeys.id, created.id));
    expect(row?.keyHash).toBe(await hashSecret(secret));
    expect(JSON.stringify(row)).not.toContain(secret);

    const list = await h.adminOk(ApiKeyListSchema, 'GET', '/keys');
    expect(list.body.object).toBe('list');
    const listed = list.body.data.find((k) => k.id === created.id);
    expect(listed).toMatchObject({ name: 'lifecycle', prefix: created.prefix });
    expect(JSON.stringify(list.body)).not.toContain(secret);
    expect(JSON.stringify(list.body)).not.toContain(row?.keyHash);
    const one = await h.adminOk(ApiKeyDetailSchema, 'GET', `/keys/${created.id}`);
    expect(one.body).not.toHaveProperty('key');
    // One key adds its standing in its budget period to what the list shows.
    expect(one.body).toMatchObject(listed ?? {});
    expect(one.body).toMatchObject({ period: { name: 'month' }, in_flight: 0 });

    expect((await h.call('GET', '/v1/models', { token: secret })).status).toBe(200);
    // last_used_at is written in the background.
    await expect
      .poll(
        async () =>
          (await h.adminOk(ApiKeyDetailSchema, 'GET', `/keys/${created.id}`)).body.last_used_at,
      )
      .not.toBeNull();

    const disabled = await h.adminOk(ApiKeySchema, 'PATCH', `/keys/${created.id}`, {
      disabled: true,
    });
    expect(disabled.body.disabled).toBe(true);
    const refused = expectError(
      await h.call('GET', '/v1/models', { token: secret }),
      401,
      'invalid_api_key',
    );
    expect(refused.message).toContain('disabled');
    expect(refused.type).toBe('authentication_error');

    await h.adminOk(ApiKeySchema, 'PATCH', `/keys/${created.id}`, {
      disabled: false,
      name: 'renamed',
    });
    expect((await h.call('GET', '/v1/models', { token: secret })).status).toBe(200);

    const deleted = await h.adminOk(DeletedApiKeySchema, 'DELETE', `/keys/${created.id}`);
    expect(deleted.body).toEqual({ id: created.id, object: 'api_key', deleted: true });
    const gone = expectError(
      await h.call('GET', '/v1/models', { token: secret }),
      401,
      'invalid_api_key',
    );
    expect(gone.message).toContain(created.prefix);
    expect(gone.message).not.toContain(secret);
    expectError(await h.admin('GET', `/keys/${created.id}`), 404, 'api_key_not_found');
    expectError(await h.admin('DELETE', `/keys/${created.id}`), 404);
  });

  it('stops working once expired, with its own error code', async () => {
    const inAMinute = Math.floor(h.clock.now() / 1000) + 60;
    const key = await h.createKey({ name: 'expiring', expires_at: inAMinute });
    expect(key.expires_at).toBe(inAMinute);
    expect((await h.call('GET', '/v1/models', { token: key.key })).status).toBe(200);
    h.clock.advance(61_000);
    const error = expectError(
      await h.call('GET', '/v1/models', { token: key.key }),
      401,
      'expired_api_key',
    );
    expect(error.message).toContain('expired');
  });

  it('takes expires_at as an ISO date-time and can clear it', async () => {
    const iso = new Date(h.clock.now() + 3600_000).toISOString();
    const key = await h.createKey({ name: 'iso', expires_at: iso });
    expect(key.expires_at).toBe(Math.floor(Date.parse(iso) / 1000));
    const patched = await h.adminOk(ApiKeySchema, 'PATCH', `/keys/${key.id}`, {
      expires_at: null,
    });
    expect(patched.body.expires_at).toBeNull();
  });

  it('tells missing, malformed, foreign and unknown keys apart', async () => {
    const messages = new Set<string>();
    for (const headers of [
      {} as Record<string, string>,
      { authorization: 'Token abc' },
      { authorization: 'Bearer not-a-fleetgate-key' },
      { authorization: `Bearer sk-fg-${'A'.repeat(43)}` },
    ]) {
      const error = expectError(
        await h.call('GET', '/v1/models', { headers }),
        401,
        'invalid_api_key',
      );
      messages.add(error.message);
    }
    expect(messages.size).toBe(4);
  });

  it('validates what it is given', async () => {
    const missing = expectError(await h.admin('POST', '/keys', {}), 400);
    expect(missing.param).toBe('name');
    const unknown = expectError(await h.admin('POST', '/keys', { name: 'x', rpm: 5 }), 400);
    expect(unknown.message).toContain("'rpm'");
    expect(expectError(await h.admin('POST', '/keys', { name: 'x', models: [] }), 400).param).toBe(
      'models',
    );
    const past = expectError(
      await h.admin('POST', '/keys', {
        name: 'x',
        expires_at: Math.floor(h.clock.now() / 1000) - 10,
      }),
      400,
    );
    expect(past.param).toBe('expires_at');
    expect(
      expectError(await h.admin('POST', '/keys', { name: 'x', expires_at: 'soon' }), 400).param,
    ).toBe('expires_at');
    const json = expectError(
      await h.call('POST', '/admin/v1/keys', { token: ADMIN_TOKEN, raw: '{"name":' }),
      400,
      'invalid_json',
    );
    expect(json.type).toBe('invalid_request_error');
    expectError(await h.admin('PATCH', '/keys/key_nope', { disabled: true }), 404);
  });
});
