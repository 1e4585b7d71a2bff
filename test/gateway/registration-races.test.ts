// Node registration under concurrency: one node per name and one node per token use, and
// a registration that fails takes no use of its token.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistrationTokenListSchema } from '../../schema/admin.ts';
import { nodes } from '../../schema/db.ts';
import {
  expectError,
  nodeBody,
  startGatewayHarness,
  type GatewayHarness,
} from '../support/gateway-harness.ts';

describe('node registration races', () => {
  let h: GatewayHarness;
  beforeAll(async () => {
    h = await startGatewayHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  async function usesOf(token: string): Promise<number | undefined> {
    const list = await h.adminOk(RegistrationTokenListSchema, 'GET', '/registration-tokens');
    return list.body.data.find((t) => token.startsWith(t.prefix))?.uses;
  }

  it('8 concurrent registrations with one single-use token make one node', async () => {
    const token = await h.registrationToken({ uses: 1 });
    const names = Array.from({ length: 8 }, (_, i) => `eight-${i}`);
    const results = await Promise.all(
      names.map((name) => h.call('POST', '/node/v1/register', { token, body: nodeBody(name) })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 401, 401, 401, 401, 401, 401, 401]);
    for (const r of results.filter((x) => x.status === 401)) {
      expectError(r, 401, 'registration_token_used_up');
    }
    const rows = await h.db.select({ name: nodes.name }).from(nodes);
    expect(rows.filter((r) => r.name.startsWith('eight-'))).toHaveLength(1);
    expect(await usesOf(token)).toBe(1);
  });

  it('two registrations of one name at the same instant make one node and take one use', async () => {
    const token = await h.registrationToken({ uses: 4 });
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        h.call('POST', '/node/v1/register', { token, body: nodeBody('same-instant') }),
      ),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) {
      expectError(r, 409, 'node_name_taken');
    }
    const rows = await h.db.select().from(nodes).where(eq(nodes.name, 'same-instant'));
    expect(rows).toHaveLength(1);
    // The refused registrations left their uses on the token.
    expect(await usesOf(token)).toBe(1);
  });
});
