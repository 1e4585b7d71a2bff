// `fleetgate-node register`: exchanges a registration token for this node's identity and
// writes it to the daemon's config file (mode 0600). The node secret is never printed.
// `fleetgate-node join` (join.ts) takes the same step, then runs the daemon.
import { homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegisterRequestSchema } from '../../schema/contracts.ts';
import type { NodeMode } from '../../schema/tunnel.ts';
import {
  defaultConfigPath,
  defaultListen,
  defaultModelCache,
  parseListen,
  RUNTIME_PREFERENCES,
  TUNNEL_LISTEN,
  writeConfig,
  type NodeConfig,
  type RuntimePreference,
} from './config.ts';
import { GatewayError, register } from './control/gateway-client.ts';
import { queryGpus } from './gpus/nvidia-smi.ts';
import { DAEMON_VERSION } from './version.ts';

export const NODE_OPTIONS_USAGE = `  --tunnel         tunnel mode: the daemon dials out to the gateway and takes requests
                   through that WebSocket, so it needs no inbound port and no
                   --advertise-url (it listens on 127.0.0.1 only by default)
  --config         where the config is (default ~/.config/fleetgate/node.json,
                   or FLEETGATE_NODE_CONFIG)
  --listen         the daemon's listen address (default 0.0.0.0:<advertise-url port>;
                   tunnel mode: ${TUNNEL_LISTEN})
  --model-cache    model weights folder or Docker volume (default FLEETGATE_MODEL_CACHE,
                   else ~/.cache/fleetgate/models)
  --runtime        engine runtime: auto (docker when available), process or docker
`;

export const REGISTER_USAGE = `Usage: fleetgate-node register --gateway URL --token TOKEN --name NAME
                               (--advertise-url URL | --tunnel) [--config PATH] [--listen HOST:PORT] [--model-cache DIR]
                               [--runtime auto|process|docker]

  --gateway        the gateway's base URL (e.g. https://gateway.example.com)
  --token          a registration token from an admin (fleetgate tokens create)
  --name           this node's name (letters, digits, dot, dash, underscore)
  --advertise-url  the URL the gateway reaches this node's daemon at
${NODE_OPTIONS_USAGE}`;

// The options `register` and `join` share (parseArgs' form).
export const REGISTER_OPTIONS = {
  gateway: { type: 'string' },
  token: { type: 'string' },
  name: { type: 'string' },
  'advertise-url': { type: 'string' },
  tunnel: { type: 'boolean' },
  config: { type: 'string' },
  listen: { type: 'string' },
  'model-cache': { type: 'string' },
  runtime: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type RegisterValues = Partial<
  Record<Exclude<keyof typeof REGISTER_OPTIONS, 'help' | 'tunnel'>, string>
> & { help?: boolean; tunnel?: boolean };

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

// The `fleetgate-node` launcher (gpu-node/bin.js), from the sources or from dist/.
const BIN = fileURLToPath(
  new URL(
    import.meta.url.endsWith('.ts') ? '../bin.js' : '../../../gpu-node/bin.js',
    import.meta.url,
  ),
);

export function validUrl(flag: string, value: string | undefined): string {
  if (!value) throw new UsageError(`${flag} is required`);
  if (!/^https?:\/\//.test(value) || !URL.canParse(value)) {
    throw new UsageError(`${flag} must be an http(s) URL, got '${value}'`);
  }
  return value.replace(/\/+$/, '');
}

// The command that runs this node from its config; `join` with an identity only runs, so
// the same line works before and after registration (without a token once registered).
export function joinCommand(gateway: string, configPath: string): string {
  return `${process.execPath} ${BIN} join --gateway ${gateway} --config ${configPath}`;
}

export function systemdUnit(gateway: string, configPath: string): string {
  const user = userInfo().username;
  return `[Unit]
Description=fleetgate GPU node daemon
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
User=${user}
Environment=FLEETGATE_NODE_CONFIG=${configPath}
ExecStart=${joinCommand(gateway, configPath)}
Restart=always
RestartSec=5
# SIGTERM to the daemon first: it stops the engines it runs as processes (Docker
# containers keep running and are adopted on restart), then SIGKILL to what is left.
KillMode=mixed
TimeoutStopSec=60

[Install]
WantedBy=multi-user.target
`;
}

export interface RegisterIo {
  out: (line: string) => void;
  err: (line: string) => void;
}

export const consoleIo: RegisterIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

// A registration, validated before anyone is called.
export interface RegisterPlan {
  gateway: string;
  token: string;
  name: string;
  // Absent in tunnel mode.
  advertiseUrl: string | undefined;
  mode: NodeMode;
  listen: string;
  modelCache: string;
  runtime: RuntimePreference;
  configPath: string;
}

// Throws UsageError naming the bad flag.
export function planRegistration(
  values: RegisterValues,
  env: NodeJS.ProcessEnv = process.env,
): RegisterPlan {
  const gateway = validUrl('--gateway', values.gateway);
  const mode: NodeMode = values.tunnel ? 'tunnel' : 'direct';
  if (mode === 'tunnel' && values['advertise-url'] !== undefined) {
    throw new UsageError('--advertise-url and --tunnel exclude each other');
  }
  const advertiseUrl =
    mode === 'tunnel' ? undefined : validUrl('--advertise-url', values['advertise-url']);
  if (!values.token) throw new UsageError('--token is required');
  if (!values.name) throw new UsageError('--name is required');
  const listen =
    values.listen ?? (advertiseUrl === undefined ? TUNNEL_LISTEN : defaultListen(advertiseUrl));
  try {
    parseListen(listen);
  } catch (err) {
    throw new UsageError(`--listen: ${(err as Error).message}`);
  }
  let runtime: RuntimePreference = 'auto';
  if (values.runtime !== undefined) {
    if (!(RUNTIME_PREFERENCES as readonly string[]).includes(values.runtime)) {
      throw new UsageError(`--runtime must be one of ${RUNTIME_PREFERENCES.join(', ')}`);
    }
    runtime = values.runtime as RuntimePreference;
  }
  return {
    gateway,
    token: values.token,
    name: values.name,
    advertiseUrl,
    mode,
    listen,
    modelCache: values['model-cache'] ?? (env.FLEETGATE_MODEL_CACHE || defaultModelCache()),
    runtime,
    configPath: resolve(values.config ?? defaultConfigPath(env)),
  };
}

export type Registration =
  { ok: true; config: NodeConfig; gpuNames: string[] } | { ok: false; exitCode: number };

// Registers with the gateway and writes the config; failures are reported on io.err.
export async function registerNode(
  plan: RegisterPlan,
  io: RegisterIo,
  command = 'register',
): Promise<Registration> {
  const gpus = await queryGpus();
  if (gpus.error) io.err(`warning: ${gpus.error}; registering without GPUs`);
  const request = RegisterRequestSchema.safeParse({
    name: plan.name,
    ...(plan.advertiseUrl === undefined ? {} : { advertise_url: plan.advertiseUrl }),
    mode: plan.mode,
    gpus: gpus.gpus,
    daemon_version: DAEMON_VERSION,
  });
  if (!request.success) {
    const issue = request.error.issues[0];
    io.err(
      `fleetgate-node ${command}: invalid ${issue?.path.join('.') ?? 'request'}: ${issue?.message ?? ''}`,
    );
    return { ok: false, exitCode: 2 };
  }

  let answer;
  try {
    answer = await register(plan.gateway, plan.token, request.data);
  } catch (err) {
    if (err instanceof GatewayError) {
      switch (err.code) {
        case 'unreachable':
          io.err(`error: ${err.message}`);
          break;
        case 'unauthorized':
          io.err(`error: the gateway refused the registration token: ${err.message}`);
          io.err(
            'Ask an admin for a new token (tokens expire and can be used a limited number of times).',
          );
          break;
        default:
          io.err(
            `error: registration failed${err.status ? ` (HTTP ${err.status})` : ''}: ${err.message}`,
          );
      }
      return { ok: false, exitCode: 1 };
    }
    throw err;
  }

  const config: NodeConfig = {
    gateway_url: plan.gateway,
    node_id: answer.node_id,
    node_secret: answer.node_secret,
    name: plan.name,
    ...(plan.advertiseUrl === undefined ? {} : { advertise_url: plan.advertiseUrl }),
    mode: plan.mode,
    issuer: answer.issuer,
    jwks: answer.jwks,
    ...(answer.data_plane_key ? { data_plane_key: answer.data_plane_key } : {}),
    heartbeat_interval_s: answer.heartbeat_interval_s,
    listen: plan.listen,
    model_cache: plan.modelCache,
    runtime: plan.runtime,
  };
  try {
    await writeConfig(plan.configPath, config);
  } catch (err) {
    io.err(
      `error: registered as ${answer.node_id}, but cannot write ${plan.configPath}: ${(err as Error).message}`,
    );
    io.err('The node secret was not saved; delete the node on the gateway and register again.');
    return { ok: false, exitCode: 1 };
  }
  return { ok: true, config, gpuNames: gpus.gpus.map((g) => `${g.index}: ${g.name}`) };
}

export function shownPath(path: string): string {
  const home = homedir();
  return path.startsWith(`${home}/`) ? `~${path.slice(home.length)}` : path;
}

// The options of `register` and `join`: their values, or the exit code when the command is
// over already (--help, or a usage error printed with the command's usage).
export function parseRegisterArgs(
  argv: string[],
  command: string,
  usage: string,
  io: RegisterIo,
): RegisterValues | number {
  try {
    const { values } = parseArgs({
      args: argv,
      options: REGISTER_OPTIONS,
      strict: true,
      allowPositionals: false,
    });
    if (values.help) {
      io.out(usage);
      return 0;
    }
    return values;
  } catch (err) {
    io.err(`fleetgate-node ${command}: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
}

function reachability(plan: RegisterPlan): string {
  if (plan.advertiseUrl === undefined) {
    return `It dials out to the gateway (tunnel mode): no inbound port is needed (listening on ${plan.listen}).`;
  }
  return `The gateway must reach it at ${plan.advertiseUrl} (listening on ${plan.listen}).`;
}

export async function runRegister(argv: string[], io: RegisterIo = consoleIo): Promise<number> {
  const parsed = parseRegisterArgs(argv, 'register', REGISTER_USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed;

  let plan: RegisterPlan;
  try {
    plan = planRegistration(values);
  } catch (err) {
    io.err(`fleetgate-node register: ${(err as Error).message}\n\n${REGISTER_USAGE}`);
    return 2;
  }
  const result = await registerNode(plan, io);
  if (!result.ok) return result.exitCode;

  const { config, gpuNames } = result;
  io.out(`Registered node '${config.name}' as ${config.node_id} with ${plan.gateway}.
GPUs reported: ${gpuNames.length ? gpuNames.join(', ') : 'none (CPU-only node)'}
Config (with the node secret, mode 0600): ${shownPath(plan.configPath)}

Next, start the daemon:

  ${joinCommand(plan.gateway, plan.configPath)}

${reachability(plan)}
To run it as a service, save this as /etc/systemd/system/fleetgate-node.service,
then run: sudo systemctl daemon-reload && sudo systemctl enable --now fleetgate-node

${systemdUnit(plan.gateway, plan.configPath)}`);
  return 0;
}
