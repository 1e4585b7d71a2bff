// The admin API's bearer token: refused when missing, malformed or wrong, and an API key is
// no admin token.
import { afterAll, beforeAll, describe, it } from 'vitest';
import {
  ADMIN_TOKEN,
  expectError,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('admin authentication', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('refuses a missing, malformed or wrong admin token', async () => {
    expectError(await h.call('GET', '/admin/v1/keys'), 401, 'missing_admin_token');
    expectError(
      await h.call('GET', '/admin/v1/keys', { headers: { authorization: `Basic ${ADMIN_TOKEN}` } }),
      401,
      'invalid_admin_token',
    );
    expectError(
      await h.call('GET', '/admin/v1/keys', { token: `${ADMIN_TOKEN}x` }),
      401,
      'invalid_admin_token',
    );
    expectError(
      await h.call('GET', '/admin/v1/keys', { token: 'short' }),
      401,
      'invalid_admin_token',
    );
  });

  it('does not take an API key as an admin token', async () => {
    const key = await h.createKey();
    expectError(await h.call('GET', '/admin/v1/keys', { token: key.key }), 401);
  });
});
