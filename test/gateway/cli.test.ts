// The operator CLI (gateway/cli) against a real Node-host gateway on 127.0.0.1: its commands
// in-process over real HTTP, the `fleetgate` entry point as its own process, and an answer
// that breaks the admin contract (from a server playing a wrong gateway).
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AdminUserSchema,
  ApiKeyListSchema,
  CreatedApiKeySchema,
  DeploymentSchema,
  UsageSummarySchema,
} from '../../schema/admin.ts';
import { adminClient, CliError, type AdminApi } from '../../gateway/cli/client.ts';
import { commands } from '../../gateway/cli/commands.ts';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';
import { parseExact } from '../support/gateway-harness.ts';
import { runToEnd } from '../support/processes.ts';

const ADMIN = 'cli-test-admin-token-0123456';

async function run(api: AdminApi, line: string[], json = false): Promise<string> {
  const [group = '', action = ''] = line;
  const single = commands[group];
  const command = single ?? commands[`${group} ${action}`];
  if (!command) throw new Error(`no command ${line.join(' ')}`);
  return command.run(api, { args: line.slice(single ? 1 : 2), json });
}

describe('the fleetgate CLI', () => {
  let dir: string;
  let gateway: RunningGateway;
  let api: AdminApi;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-cli-'));
    gateway = await startGateway({
      env: {
        FLEETGATE_ADMIN_TOKEN: ADMIN,
        FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
        FLEETGATE_PORT: '0',
        FLEETGATE_HOST: '127.0.0.1',
      },
    });
    api = adminClient({ url: gateway.url, adminToken: ADMIN });
  });
  afterAll(async () => {
    await gateway.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('creates, lists, disables and revokes keys, as tables or as the API JSON', async () => {
    const created = await run(api, ['keys', 'create', '--name', 'ops', '--models', 'a, b'], true);
    const key = parseExact(CreatedApiKeySchema, JSON.parse(created));
    expect(key.models).toEqual(['a', 'b']);

    const table = await run(api, ['keys', 'list']);
    const [header, row] = table.split('\n');
    expect(header?.split(/\s+/)).toEqual([
      'ID',
      'NAME',
      'PREFIX',
      'MODELS',
      'LIMITS',
      'DISABLED',
      'EXPIRES',
      'LAST_USED',
    ]);
    expect(row?.split(/\s+/)).toEqual([
      key.id,
      'ops',
      key.prefix,
      'a,b',
      'none',
      'false',
      '-',
      '-',
    ]);
    expect(table).not.toContain(key.key);

    const listed = parseExact(ApiKeyListSchema, JSON.parse(await run(api, ['keys', 'list'], true)));
    expect(listed.data.map((k) => k.id)).toEqual([key.id]);

    expect(await run(api, ['keys', 'disable', key.id])).toMatch(/\bops\b.*\btrue\b/);
    expect(await run(api, ['keys', 'revoke', key.id])).toBe(`revoked ${key.id}`);
    await expect(run(api, ['keys', 'get', key.id])).rejects.toMatchObject({ statusCode: 404 });
  });

  it('creates a registration token and says how to use it', async () => {
    const out = await run(api, ['tokens', 'create', '--name', 'gpu-1', '--uses', '2']);
    expect(out).toMatch(/^registration token rt_\S+ expires \d{4}-\d\d-\d\dT\S+, uses 2$/m);
    const token = /token \(shown once\): (\S+)/.exec(out)?.[1] ?? '';
    expect(token).toMatch(/^fgr-/);
    expect(out).toContain(`--token ${token} --name <node name>`);
    const list = await run(api, ['tokens', 'list']);
    expect(list).toContain('gpu-1');
    expect(list).not.toContain(token);
  });

  it('creates, scales and removes a deployment; lists nodes and usage', async () => {
    const created = parseExact(
      DeploymentSchema,
      JSON.parse(
        await run(
          api,
          ['deployments', 'create', '--model', 'm1', '--recipe', 'sim', '--replicas', '0'],
          true,
        ),
      ),
    );
    expect(created).toMatchObject({ model: 'm1', recipe: 'sim', replicas: 0, instances: [] });
    const scaled = await run(api, ['deployments', 'scale', created.id, '--replicas', '2']);
    // No node has joined: nothing is placed, so none of the two replicas is ready, and the
    // last column says why.
    expect(scaled.split('\n')[1]?.split(/\s+/)).toEqual([
      created.id,
      'm1',
      'sim',
      '2',
      'prefix',
      '0/2',
      '-',
      '2:',
      'no',
      'node',
      'is',
      'registered',
    ]);
    expect(await run(api, ['deployments', 'list'])).toContain(created.id);
    expect(await run(api, ['deployments', 'rm', created.id])).toBe(
      `removed deployment ${created.id}`,
    );
    expect(await run(api, ['nodes', 'list'])).toBe('(none)');

    const usage = parseExact(
      UsageSummarySchema,
      JSON.parse(await run(api, ['usage', '--group-by', 'model'], true)),
    );
    expect(usage).toMatchObject({ object: 'list', group_by: 'model', data: [] });
    await expect(run(api, ['usage', '--group-by', 'week'])).rejects.toMatchObject({
      statusCode: 400,
    });
  });

  it('refuses an answer that breaks the admin contract, naming the field', async () => {
    const wrong: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ object: 'list', data: [{ id: 'key_1', object: 'api_key' }] }));
    });
    await new Promise<void>((resolve) => wrong.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(wrong.address() as AddressInfo).port}`;
      const err: unknown = await run(adminClient({ url, adminToken: ADMIN }), [
        'keys',
        'list',
      ]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CliError);
      expect(String(err)).toContain('answer to GET keys is not what this CLI expects');
      expect(String(err)).toContain('data[0].name');
    } finally {
      await new Promise((resolve) => wrong.close(resolve));
    }
  });

  it('creates console users with the password from the environment, lists and deletes them', async () => {
    const env = {
      FLEETGATE_URL: gateway.url,
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_USER_PASSWORD: 'a password from the env',
    };
    const made = await runToEnd(
      'gateway/cli/main.ts',
      ['users', 'create', '--username', 'ops', '--role', 'viewer', '--json'],
      env,
    );
    expect(made.code).toBe(0);
    const user = parseExact(AdminUserSchema, JSON.parse(made.stdout));
    expect(user).toMatchObject({ username: 'ops', role: 'viewer' });
    const login = await fetch(`${gateway.url}/admin/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'ops', password: 'a password from the env' }),
    });
    expect(login.status).toBe(200);

    const missing = await runToEnd(
      'gateway/cli/main.ts',
      ['users', 'create', '--username', 'x', '--role', 'admin'],
      { FLEETGATE_URL: gateway.url, FLEETGATE_ADMIN_TOKEN: ADMIN, FLEETGATE_USER_PASSWORD: '' },
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/FLEETGATE_USER_PASSWORD/);

    const list = await run(api, ['users', 'list']);
    expect(list).toMatch(/ops\s+viewer/);
    expect(await run(api, ['users', 'rm', user.id])).toBe(`deleted user ${user.id}`);
  });

  it('runs as its own process: output on stdout, errors on stderr with exit code 2', async () => {
    const env = { FLEETGATE_URL: gateway.url, FLEETGATE_ADMIN_TOKEN: ADMIN };
    const ok = await runToEnd('gateway/cli/main.ts', ['keys', 'create', '--name', 'proc'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/API key \(shown once, store it now\): sk-fg-\S+/);

    const refused = await runToEnd('gateway/cli/main.ts', ['keys', 'list'], {
      ...env,
      FLEETGATE_ADMIN_TOKEN: `${ADMIN}x`,
    });
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toMatch(/^fleetgate: 401: /);
  });
});
