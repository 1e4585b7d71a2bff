// The CLI's commands: argument parsing and output for each admin API resource.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { $Fetch } from 'ofetch';
import { CliError } from './client.ts';
import { isoTime, table } from './format.ts';

interface Invocation {
  // Everything after the command name: its flags and positional arguments.
  args: string[];
  json: boolean;
}

interface Command {
  run(api: $Fetch, inv: Invocation): Promise<string>;
}

interface List<T> {
  data: T[];
}
type Row = Record<string, unknown>;

export const usage = `usage: fleetgate <command> [options]   (FLEETGATE_URL, FLEETGATE_ADMIN_TOKEN)

  keys create --name NAME [--models m1,m2] [--expires-at ISO]
  keys list | keys get ID | keys revoke ID | keys disable ID | keys enable ID
  tokens create [--name NAME] [--ttl SECONDS] [--uses N]
  tokens list
  nodes list | nodes get ID | nodes rm ID
  deployments create --model NAME --recipe vllm|sglang|ollama|llamacpp|sim|external
                     [--options JSON] [--node ID] [--replicas N]
  deployments list | deployments get ID | deployments rm ID
  deployments scale ID --replicas N
  deployments logs ID [--tail N] [--replica K]
  usage [--from ISO] [--to ISO] [--group-by key|model|node|day]

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

const show = (inv: Invocation, value: unknown, text: () => string) =>
  inv.json ? JSON.stringify(value, null, 2) : text();

const keyColumns = ['id', 'name', 'prefix', 'models', 'disabled', 'expires', 'last_used'];
const keyRow = (k: Row): Row => ({
  ...k,
  expires: k.expires_at ? isoTime(k.expires_at) : null,
  last_used: k.last_used_at ? isoTime(k.last_used_at) : null,
});

const patchKey = (disabled: boolean): Command => ({
  async run(api, inv) {
    const key = await api<Row>(`keys/${id(inv)}`, { method: 'PATCH', body: { disabled } });
    return show(inv, key, () => table([keyRow(key)], keyColumns));
  },
});

const deploymentRow = (d: Row): Row => {
  const instances = Array.isArray(d.instances) ? (d.instances as Row[]) : [];
  return {
    ...d,
    ready: `${instances.filter((i) => i.state === 'ready').length}/${String(d.replicas)}`,
    states: instances.map((i) => `${String(i.node_id)}:${String(i.state)}`),
  };
};
const deploymentColumns = ['id', 'model', 'recipe', 'replicas', 'ready', 'states'];

export const commands: Record<string, Command> = {
  'keys create': {
    async run(api, inv) {
      const f = flags(inv, {
        name: { type: 'string' },
        models: { type: 'string' },
        'expires-at': { type: 'string' },
      });
      if (!f.name) throw new CliError('--name is required');
      const key = await api<Row>('keys', {
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
        },
      });
      return show(inv, key, () =>
        [
          table([keyRow(key)], keyColumns),
          '',
          `API key (shown once, store it now): ${String(key.key)}`,
        ].join('\n'),
      );
    },
  },
  'keys list': {
    async run(api, inv) {
      const list = await api<List<Row>>('keys');
      return show(inv, list, () => table(list.data.map(keyRow), keyColumns));
    },
  },
  'keys get': {
    async run(api, inv) {
      const key = await api<Row>(`keys/${id(inv)}`);
      return show(inv, key, () => table([keyRow(key)], keyColumns));
    },
  },
  'keys revoke': {
    async run(api, inv) {
      const res = await api<Row>(`keys/${id(inv)}`, { method: 'DELETE' });
      return show(inv, res, () => `revoked ${String(res.id)}`);
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
      const token = await api<Row>('registration-tokens', {
        method: 'POST',
        body: { name: f.name, ttl_s: int(f.ttl, 'ttl'), uses: int(f.uses, 'uses') },
      });
      return show(inv, token, () =>
        [
          `registration token ${String(token.id)} expires ${isoTime(token.expires_at)}, uses ${String(token.max_uses)}`,
          `token (shown once): ${String(token.token)}`,
          '',
          'On the GPU machine:',
          `  npx fleetgate-node register --gateway <gateway URL> --token ${String(token.token)} --name <node name> --advertise-url http://<node address>:8788`,
        ].join('\n'),
      );
    },
  },
  'tokens list': {
    async run(api, inv) {
      const list = await api<List<Row>>('registration-tokens');
      return show(inv, list, () =>
        table(
          list.data.map((t) => ({ ...t, expires: isoTime(t.expires_at) })),
          ['id', 'name', 'prefix', 'uses', 'max_uses', 'expires'],
        ),
      );
    },
  },
  'nodes list': {
    async run(api, inv) {
      const list = await api<List<Row>>('nodes');
      return show(inv, list, () =>
        table(
          list.data.map((n) => ({
            ...n,
            gpus: Array.isArray(n.gpus) ? (n.gpus as Row[]).map((g) => String(g.name)) : [],
            last_heartbeat: isoTime(n.last_heartbeat_at),
          })),
          ['id', 'name', 'status', 'advertise_url', 'gpus', 'last_heartbeat'],
        ),
      );
    },
  },
  'nodes get': {
    async run(api, inv) {
      return JSON.stringify(await api<Row>(`nodes/${id(inv)}`), null, 2);
    },
  },
  'nodes rm': {
    async run(api, inv) {
      const res = await api<Row>(`nodes/${id(inv)}`, { method: 'DELETE' });
      return show(inv, res, () => `removed node ${String(res.id)}`);
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
      const dep = await api<Row>('deployments', {
        method: 'POST',
        body: {
          model: f.model,
          recipe: f.recipe,
          options,
          placement: f.node ? { node_id: f.node } : {},
          replicas: int(f.replicas, 'replicas'),
        },
      });
      return show(inv, dep, () => table([deploymentRow(dep)], deploymentColumns));
    },
  },
  'deployments list': {
    async run(api, inv) {
      const list = await api<List<Row>>('deployments');
      return show(inv, list, () => table(list.data.map(deploymentRow), deploymentColumns));
    },
  },
  'deployments get': {
    async run(api, inv) {
      return JSON.stringify(await api<Row>(`deployments/${id(inv)}`), null, 2);
    },
  },
  'deployments scale': {
    async run(api, inv) {
      const options = { replicas: { type: 'string' } } as const;
      const f = flags(inv, options);
      const replicas = int(f.replicas, 'replicas');
      if (replicas === undefined) throw new CliError('--replicas is required');
      const dep = await api<Row>(`deployments/${id(inv, options)}`, {
        method: 'PATCH',
        body: { replicas },
      });
      return show(inv, dep, () => table([deploymentRow(dep)], deploymentColumns));
    },
  },
  'deployments rm': {
    async run(api, inv) {
      const res = await api<Row>(`deployments/${id(inv)}`, { method: 'DELETE' });
      return show(inv, res, () => `removed deployment ${String(res.id)}`);
    },
  },
  'deployments logs': {
    async run(api, inv) {
      const options = { tail: { type: 'string' }, replica: { type: 'string' } } as const;
      const f = flags(inv, options);
      const res = await api<List<string>>(`deployments/${id(inv, options)}/logs`, {
        query: { tail: int(f.tail, 'tail'), replica: int(f.replica, 'replica') },
      });
      return show(inv, res, () => res.data.join('\n'));
    },
  },
  usage: {
    async run(api, inv) {
      const f = flags(inv, {
        from: { type: 'string' },
        to: { type: 'string' },
        'group-by': { type: 'string' },
      });
      const res = await api<List<Row>>('usage', {
        query: { from: f.from, to: f.to, group_by: f['group-by'] },
      });
      return show(inv, res, () =>
        table(res.data, [
          ...(f['group-by'] ? ['group'] : []),
          'requests',
          'errors',
          'prompt_tokens',
          'completion_tokens',
          'total_tokens',
          'avg_latency_ms',
          'avg_ttft_ms',
        ]),
      );
    },
  },
};
