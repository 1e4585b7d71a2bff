// The CLI's commands: argument parsing and output for each admin API resource. Every
// answer is checked against its contract in schema/admin.ts before it is shown.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  ApiKeyDetailSchema,
  ApiKeyListSchema,
  ApiKeySchema,
  CreatedApiKeySchema,
  CreatedRegistrationTokenSchema,
  DeletedApiKeySchema,
  DeletedDeploymentSchema,
  DeletedNodeSchema,
  DeploymentListSchema,
  DeploymentLogsSchema,
  DeploymentSchema,
  NodeListSchema,
  NodeSchema,
  RegistrationTokenListSchema,
  UsageSummarySchema,
  type ApiKey,
  type Deployment,
} from '../../schema/admin.ts';
import { CliError, type AdminApi } from './client.ts';
import { isoTime, table } from './format.ts';
import {
  limitOptions,
  limitsBody,
  limitsText,
  limitsUsage,
  priceCommands,
  standingText,
} from './limits.ts';
import { followLogs } from './follow.ts';
import { userCommands, usersUsage } from './users.ts';

interface Invocation {
  // Everything after the command name: its flags and positional arguments.
  args: string[];
  json: boolean;
}

interface Command {
  run(api: AdminApi, inv: Invocation): Promise<string>;
}

export const usage = `usage: fleetgate <command> [options]   (FLEETGATE_URL, FLEETGATE_ADMIN_TOKEN)

  keys create --name NAME [--models m1,m2] [--expires-at ISO]
  keys list | keys get ID | keys revoke ID | keys disable ID | keys enable ID
${limitsUsage}
  tokens create [--name NAME] [--ttl SECONDS] [--uses N]
  tokens list
  nodes list | nodes get ID | nodes rm ID
  deployments create --model NAME --recipe vllm|sglang|ollama|llamacpp|sim|external
                     [--options JSON] [--node ID] [--replicas N]
                     [--routing prefix|least_load|round_robin]
  deployments list | deployments get ID | deployments rm ID
  deployments scale ID --replicas N
  deployments route ID --routing prefix|least_load|round_robin
  deployments logs ID [--tail N] [--replica K] [--follow]   (--follow: until Ctrl-C)
  usage [--from ISO] [--to ISO] [--group-by key|model|node|day]
${usersUsage}

  --json    print the API's JSON instead of a table`;

function parse<T extends NonNullable<ParseArgsConfig['options']>>(inv: Invocation, options: T) {
  try {
    return parseArgs({
      args: inv.args,
      options: { ...options, url: { type: 'string' }, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}

const flags = <T extends NonNullable<ParseArgsConfig['options']>>(inv: Invocation, options: T) =>
  parse(inv, options).values;

function id(inv: Invocation, options: NonNullable<ParseArgsConfig['options']> = {}): string {
  const value = parse(inv, options).positionals[0];
  if (!value) throw new CliError('an id is required');
  return encodeURIComponent(value);
}

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new CliError(`--${name} must be a non-negative integer`);
  return n;
}

// --json prints the gateway's JSON as it came; otherwise a table or a line.
const show = (inv: Invocation, json: unknown, text: () => string) =>
  inv.json ? JSON.stringify(json, null, 2) : text();

const keyColumns = ['id', 'name', 'prefix', 'models', 'limits', 'disabled', 'expires', 'last_used'];
const keyRow = (k: ApiKey) => ({
  ...k,
  expires: k.expires_at === null ? null : isoTime(k.expires_at),
  last_used: k.last_used_at === null ? null : isoTime(k.last_used_at),
  limits: limitsText(k.limits),
});

const patchKey = (disabled: boolean): Command => ({
  async run(api, inv) {
    const key = await api.call(ApiKeySchema, `keys/${id(inv)}`, {
      method: 'PATCH',
      body: { disabled },
    });
    return show(inv, key.json, () => table([keyRow(key.data)], keyColumns));
  },
});

const deploymentRow = (d: Deployment) => ({
  ...d,
  ready: `${d.instances.filter((i) => i.state === 'ready').length}/${d.replicas}`,
  states: d.instances.map((i) => `${i.node_id}:${i.state}`),
  // Why some replicas have no node (GET /deployments answers it with the fleet as it is).
  unplaced: d.unplaced ? `${d.unplaced.replicas.length}: ${d.unplaced.reason}` : '',
});
const deploymentColumns = [
  'id',
  'model',
  'recipe',
  'replicas',
  'routing',
  'ready',
  'states',
  'unplaced',
];

export const commands: Record<string, Command> = {
  'keys create': {
    async run(api, inv) {
      const f = flags(inv, {
        name: { type: 'string' },
        models: { type: 'string' },
        'expires-at': { type: 'string' },
        ...limitOptions,
      });
      if (!f.name) throw new CliError('--name is required');
      const limits = limitsBody(f);
      const key = await api.call(CreatedApiKeySchema, 'keys', {
        method: 'POST',
        body: {
          name: f.name,
          ...(f.models
            ? {
                models: f.models
                  .split(',')
                  .map((m) => m.trim())
                  .filter(Boolean),
              }
            : {}),
          ...(f['expires-at'] ? { expires_at: f['expires-at'] } : {}),
          ...(limits ? { limits } : {}),
        },
      });
      return show(inv, key.json, () =>
        [
          table([keyRow(key.data)], keyColumns),
          '',
          `API key (shown once, store it now): ${key.data.key}`,
        ].join('\n'),
      );
    },
  },
  'keys list': {
    async run(api, inv) {
      const list = await api.call(ApiKeyListSchema, 'keys');
      return show(inv, list.json, () => table(list.data.data.map(keyRow), keyColumns));
    },
  },
  'keys get': {
    async run(api, inv) {
      const key = await api.call(ApiKeyDetailSchema, `keys/${id(inv)}`);
      return show(inv, key.json, () =>
        [table([keyRow(key.data)], keyColumns), '', standingText(key.data)].join('\n'),
      );
    },
  },
  'keys revoke': {
    async run(api, inv) {
      const res = await api.call(DeletedApiKeySchema, `keys/${id(inv)}`, { method: 'DELETE' });
      return show(inv, res.json, () => `revoked ${res.data.id}`);
    },
  },
  'keys limits': {
    async run(api, inv) {
      const limits = limitsBody(flags(inv, limitOptions));
      if (!limits) throw new CliError('give at least one limit flag (see fleetgate --help)');
      const key = await api.call(ApiKeySchema, `keys/${id(inv, limitOptions)}`, {
        method: 'PATCH',
        body: { limits },
      });
      return show(inv, key.json, () => table([keyRow(key.data)], keyColumns));
    },
  },
  'keys disable': patchKey(true),
  'keys enable': patchKey(false),
  'tokens create': {
    async run(api, inv) {
      const f = flags(inv, {
        name: { type: 'string' },
        ttl: { type: 'string' },
        uses: { type: 'string' },
      });
      const res = await api.call(CreatedRegistrationTokenSchema, 'registration-tokens', {
        method: 'POST',
        body: { name: f.name, ttl_s: int(f.ttl, 'ttl'), uses: int(f.uses, 'uses') },
      });
      const token = res.data;
      return show(inv, res.json, () =>
        [
          `registration token ${token.id} expires ${isoTime(token.expires_at)}, uses ${token.max_uses}`,
          `token (shown once): ${token.token}`,
          '',
          'On the GPU machine:',
          `  npx fleetgate-node register --gateway <gateway URL> --token ${token.token} --name <node name> --advertise-url http://<node address>:8788`,
        ].join('\n'),
      );
    },
  },
  'tokens list': {
    async run(api, inv) {
      const list = await api.call(RegistrationTokenListSchema, 'registration-tokens');
      return show(inv, list.json, () =>
        table(
          list.data.data.map((t) => ({ ...t, expires: isoTime(t.expires_at) })),
          ['id', 'name', 'prefix', 'uses', 'max_uses', 'expires'],
        ),
      );
    },
  },
  'nodes list': {
    async run(api, inv) {
      const list = await api.call(NodeListSchema, 'nodes');
      return show(inv, list.json, () =>
        table(
          list.data.data.map((n) => ({
            ...n,
            gpus: n.gpus.map((g) => g.name),
            // Tunnel mode shows whether the tunnel is up instead of an address.
            reached_at:
              n.mode === 'tunnel'
                ? `tunnel (${n.tunnel_connected ? 'connected' : 'not connected'})`
                : n.advertise_url,
            last_heartbeat: n.last_heartbeat_at === null ? null : isoTime(n.last_heartbeat_at),
          })),
          ['id', 'name', 'status', 'mode', 'reached_at', 'gpus', 'last_heartbeat'],
        ),
      );
    },
  },
  'nodes get': {
    async run(api, inv) {
      return JSON.stringify((await api.call(NodeSchema, `nodes/${id(inv)}`)).json, null, 2);
    },
  },
  'nodes rm': {
    async run(api, inv) {
      const res = await api.call(DeletedNodeSchema, `nodes/${id(inv)}`, { method: 'DELETE' });
      return show(inv, res.json, () => `removed node ${res.data.id}`);
    },
  },
  'deployments create': {
    async run(api, inv) {
      const f = flags(inv, {
        model: { type: 'string' },
        recipe: { type: 'string' },
        options: { type: 'string' },
        node: { type: 'string' },
        replicas: { type: 'string' },
        routing: { type: 'string' },
      });
      if (!f.model || !f.recipe) throw new CliError('--model and --recipe are required');
      let options: unknown = {};
      if (f.options) {
        try {
          options = JSON.parse(f.options);
        } catch {
          throw new CliError('--options must be a JSON object');
        }
      }
      const dep = await api.call(DeploymentSchema, 'deployments', {
        method: 'POST',
        body: {
          model: f.model,
          recipe: f.recipe,
          options,
          placement: f.node ? { node_id: f.node } : {},
          replicas: int(f.replicas, 'replicas'),
          routing: f.routing,
        },
      });
      return show(inv, dep.json, () => table([deploymentRow(dep.data)], deploymentColumns));
    },
  },
  'deployments list': {
    async run(api, inv) {
      const list = await api.call(DeploymentListSchema, 'deployments');
      return show(inv, list.json, () =>
        table(list.data.data.map(deploymentRow), deploymentColumns),
      );
    },
  },
  'deployments get': {
    async run(api, inv) {
      const dep = await api.call(DeploymentSchema, `deployments/${id(inv)}`);
      return JSON.stringify(dep.json, null, 2);
    },
  },
  'deployments scale': {
    async run(api, inv) {
      const options = { replicas: { type: 'string' } } as const;
      const f = flags(inv, options);
      const replicas = int(f.replicas, 'replicas');
      if (replicas === undefined) throw new CliError('--replicas is required');
      const dep = await api.call(DeploymentSchema, `deployments/${id(inv, options)}`, {
        method: 'PATCH',
        body: { replicas },
      });
      return show(inv, dep.json, () => table([deploymentRow(dep.data)], deploymentColumns));
    },
  },
  'deployments route': {
    async run(api, inv) {
      const options = { routing: { type: 'string' } } as const;
      const f = flags(inv, options);
      if (f.routing === undefined) throw new CliError('--routing is required');
      const dep = await api.call(DeploymentSchema, `deployments/${id(inv, options)}`, {
        method: 'PATCH',
        body: { routing: f.routing },
      });
      return show(inv, dep.json, () => table([deploymentRow(dep.data)], deploymentColumns));
    },
  },
  'deployments rm': {
    async run(api, inv) {
      const res = await api.call(DeletedDeploymentSchema, `deployments/${id(inv)}`, {
        method: 'DELETE',
      });
      return show(inv, res.json, () => `removed deployment ${res.data.id}`);
    },
  },
  'deployments logs': {
    async run(api, inv) {
      const options = {
        tail: { type: 'string' },
        replica: { type: 'string' },
        follow: { type: 'boolean' },
      } as const;
      const f = flags(inv, options);
      if (f.follow) {
        const query = { tail: int(f.tail, 'tail'), replica: int(f.replica, 'replica') };
        await followLogs(api, `deployments/${id(inv, options)}/logs`, query, inv.json);
        return '';
      }
      const res = await api.call(DeploymentLogsSchema, `deployments/${id(inv, options)}/logs`, {
        query: { tail: int(f.tail, 'tail'), replica: int(f.replica, 'replica') },
      });
      return show(inv, res.json, () => res.data.data.join('\n'));
    },
  },
  usage: {
    async run(api, inv) {
      const f = flags(inv, {
        from: { type: 'string' },
        to: { type: 'string' },
        'group-by': { type: 'string' },
      });
      const res = await api.call(UsageSummarySchema, 'usage', {
        query: { from: f.from, to: f.to, group_by: f['group-by'] },
      });
      return show(inv, res.json, () =>
        table(res.data.data, [
          ...(f['group-by'] ? ['group'] : []),
          'requests',
          'errors',
          'prompt_tokens',
          'completion_tokens',
          'total_tokens',
          'spend_usd',
          'avg_latency_ms',
          'avg_ttft_ms',
        ]),
      );
    },
  },
  ...priceCommands({ flags: parse, show }),
  ...userCommands({ flags: parse, show }),
};
