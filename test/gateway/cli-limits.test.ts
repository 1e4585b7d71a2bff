// The CLI's limit and price commands against a real Node-host gateway on 127.0.0.1.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiKeyDetailSchema,
  ApiKeySchema,
  CreatedApiKeySchema,
  ModelPriceListSchema,
  ModelPriceSchema,
} from '../../schema/admin.ts';
import { adminClient, CliError, type AdminApi } from '../../gateway/cli/client.ts';
import { commands } from '../../gateway/cli/commands.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import { parseExact } from '../support/gateway-harness.ts';

const ADMIN = 'cli-limits-admin-token-01234';

async function run(api: AdminApi, line: string[], json = false): Promise<string> {
  const [group = '', action = ''] = line;
  const command = commands[`${group} ${action}`];
  if (!command) throw new Error(`no command ${line.join(' ')}`);
  return command.run(api, { args: line.slice(2), json });
}

describe('fleetgate keys and prices: limits', () => {
  let dir: string;
  let gateway: RunningGateway;
  let api: AdminApi;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-cli-limits-'));
    gateway = await startGateway({
      env: {
        FLEETGATE_ADMIN_TOKEN: ADMIN,
        FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
        FLEETGATE_PORT: '0',
      },
    });
    api = adminClient({ url: gateway.url, adminToken: ADMIN });
  });
  afterAll(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates a key with limits, changes them, and shows its standing', async () => {
    const created = parseExact(
      CreatedApiKeySchema,
      JSON.parse(
        await run(
          api,
          ['keys', 'create', '--name', 'team', '--rpm', '600', '--token-budget', '5000000'],
          true,
        ),
      ),
    );
    expect(created.limits).toMatchObject({ requests_per_minute: 600, token_budget: 5_000_000 });
    const listed = await run(api, ['keys', 'list']);
    expect(listed).toContain('rpm=600 tokens=5000000/month');

    const changed = parseExact(
      ApiKeySchema,
      JSON.parse(
        await run(
          api,
          [
            'keys',
            'limits',
            created.id,
            '--rpm',
            'none',
            '--spend-budget',
            '25',
            '--budget-period',
            'day',
          ],
          true,
        ),
      ),
    );
    expect(changed.limits).toMatchObject({
      requests_per_minute: null,
      spend_budget_usd: 25,
      budget_period: 'day',
    });

    const detail = parseExact(
      ApiKeyDetailSchema,
      JSON.parse(await run(api, ['keys', 'get', created.id], true)),
    );
    expect(detail).toMatchObject({ period: { name: 'day' }, used: { requests: 0 } });
    const text = await run(api, ['keys', 'get', created.id]);
    expect(text).toContain('token budget: 5000000 of 5000000 left');
    expect(text).toContain('spend budget: $25 of $25 left');

    await expect(run(api, ['keys', 'limits', created.id, '--rpm', '0'])).rejects.toMatchObject({
      data: { error: { param: 'limits.requests_per_minute' } },
    });
    await expect(run(api, ['keys', 'limits', created.id, '--rpm', 'lots'])).rejects.toThrow(
      CliError,
    );
  });

  it('sets, lists and removes prices', async () => {
    const set = await run(api, [
      'prices',
      'set',
      'org/model-a',
      '--input',
      '0.15',
      '--output',
      '0.6',
    ]);
    expect(set).toContain('org/model-a');
    const list = parseExact(
      ModelPriceListSchema,
      JSON.parse(await run(api, ['prices', 'list'], true)),
    );
    expect(list.data).toEqual([
      expect.objectContaining({
        model: 'org/model-a',
        input_usd_per_mtok: 0.15,
        output_usd_per_mtok: 0.6,
        usd_per_image: null,
      }),
    ]);
    await expect(run(api, ['prices', 'set', 'm', '--input', '1'])).rejects.toThrow(/--output/);
    // An image model priced per image alone: its token prices are 0.
    const image = parseExact(
      ModelPriceSchema,
      JSON.parse(await run(api, ['prices', 'set', 'org/painter', '--image', '0.04'], true)),
    );
    expect(image).toMatchObject({
      input_usd_per_mtok: 0,
      output_usd_per_mtok: 0,
      usd_per_image: 0.04,
    });
    await expect(run(api, ['prices', 'set', 'm', '--image', 'cheap'])).rejects.toThrow(/--image/);
    expect(await run(api, ['prices', 'rm', 'org/painter'])).toContain('org/painter');
    expect(await run(api, ['prices', 'rm', 'org/model-a'])).toBe(
      'removed the price of org/model-a',
    );
    expect(await run(api, ['prices', 'list'])).toBe('(none)');
  });
});
