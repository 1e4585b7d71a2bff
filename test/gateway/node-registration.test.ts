// Registration tokens (/admin/v1/registration-tokens) and how a GPU machine joins with one
// (POST /node/v1/register): answers, refusals, counted uses and races for the last use.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreatedRegistrationTokenSchema,
  NodeSchema,
  RegistrationTokenListSchema,
} from '../../schema/admin.ts';
import { DATA_PLANE_JWT_ISSUER, JwksSchema } from '../../schema/contracts.ts';
import { nodes } from '../../schema/db.ts';
import { hashSecret } from '../../gateway/src/auth/secrets.ts';
import {
  expectError,
  HEARTBEAT_S,
  nodeBody,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('registration tokens and node registration', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('lists tokens without their secret', async () => {
    const created = await h.adminOk(
      CreatedRegistrationTokenSchema,
      'POST',
      '/registration-tokens',
      { name: 'listed', ttl_s: 600, uses: 3 },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ object: 'registration_token', uses: 0, max_uses: 3 });
    expect(created.body.token).toMatch(/^fgr-/);
    const list = await h.adminOk(RegistrationTokenListSchema, 'GET', '/registration-tokens');
    const listed = list.body.data.find((t) => t.id === created.body.id);
    expect(listed).toMatchObject({ name: 'listed', uses: 0, max_uses: 3 });
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    expectError(await h.admin('POST', '/registration-tokens', { ttl_s: 31 * 24 * 3600 }), 400);
  });

  it('registers a node and answers its identity, the JWKS and the heartbeat interval', async () => {
    const registered = await h.registerNode('reg-ok');
    expect(registered.node_id).toMatch(/^node_/);
    expect(registered.node_secret).toMatch(/^fgn-/);
    expect(registered.jwks).toEqual(h.signer.jwks());
    expect(registered.heartbeat_interval_s).toBe(HEARTBEAT_S);
    expect(registered.issuer).toBe(DATA_PLANE_JWT_ISSUER);
    const [row] = await h.db.select().from(nodes).where(eq(nodes.id, registered.node_id));
    expect(row?.secretHash).toBe(await hashSecret(registered.node_secret));
    const node = await h.adminOk(NodeSchema, 'GET', `/nodes/${registered.node_id}`);
    expect(node.body).toMatchObject({ name: 'reg-ok', status: 'offline' });
    expect((await h.callOk(JwksSchema, 'GET', '/node/v1/jwks')).body).toEqual(h.signer.jwks());
  });

  it('refuses unknown, expired and used-up tokens with distinct errors', async () => {
    const body = nodeBody('reg-refused');
    expectError(
      await h.call('POST', '/node/v1/register', { body }),
      401,
      'invalid_node_credentials',
    );
    expectError(
      await h.call('POST', '/node/v1/register', { token: `fgr-${'B'.repeat(43)}`, body }),
      401,
      'invalid_registration_token',
    );

    const expiring = await h.registrationToken({ ttl_s: 10 });
    h.clock.advance(11_000);
    expectError(
      await h.call('POST', '/node/v1/register', { token: expiring, body }),
      401,
      'expired_registration_token',
    );

    const once = await h.registrationToken({ uses: 1 });
    expect((await h.call('POST', '/node/v1/register', { token: once, body })).status).toBe(201);
    expectError(
      await h.call('POST', '/node/v1/register', { token: once, body: nodeBody('reg-again') }),
      401,
      'registration_token_used_up',
    );
  });

  it('does not spend a use on a bad body or a taken name', async () => {
    const token = await h.registrationToken({ uses: 1 });
    const bad = expectError(
      await h.call('POST', '/node/v1/register', {
        token,
        body: { ...nodeBody('bad-url'), advertise_url: 'ftp://x' },
      }),
      400,
    );
    expect(bad.param).toBe('advertise_url');
    await h.registerNode('taken-name');
    expectError(
      await h.call('POST', '/node/v1/register', { token, body: nodeBody('taken-name') }),
      409,
      'node_name_taken',
    );
    expect(
      (await h.call('POST', '/node/v1/register', { token, body: nodeBody('fresh') })).status,
    ).toBe(201);
  });

  it('lets only one of two concurrent registrations take the last use', async () => {
    const token = await h.registrationToken({ uses: 1 });
    const results = await Promise.all(
      ['race-1', 'race-2', 'race-3'].map((name) =>
        h.call('POST', '/node/v1/register', { token, body: nodeBody(name) }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 401, 401]);
  });
});
