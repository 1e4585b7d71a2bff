// `fleetgate-node register`: exchanges a registration token for this node's identity and
// writes it to the daemon's config file (mode 0600). The node secret is never printed.
import { homedir, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RegisterRequestSchema } from '../../schema/contracts.ts';
import {
  defaultConfigPath,
  defaultListen,
  defaultModelCache,
  parseListen,
  RUNTIME_PREFERENCES,
  writeConfig,
  type NodeConfig,
  type RuntimePreference,
} from './config.ts';
import { GatewayError, register } from './control/gateway-client.ts';
import { queryGpus } from './gpus/nvidia-smi.ts';
import { DAEMON_VERSION } from './version.ts';

export const REGISTER_USAGE = `Usage: fleetgate-node register --gateway URL --token TOKEN --name NAME --advertise-url URL
                               [--config PATH] [--listen HOST:PORT] [--model-cache DIR]
                               [--runtime auto|process|docker]

  --gateway        the gateway's base URL (e.g. https://gateway.example.com)
  --token          a registration token from an admin (fleetgate tokens create)
  --name           this node's name (letters, digits, dot, dash, underscore)
  --advertise-url  the URL the gateway reaches this node's daemon at
  --config         where to write the config (default ~/.config/fleetgate/node.json,
                   or FLEETGATE_NODE_CONFIG)
  --listen         the daemon's listen address (default 0.0.0.0:<advertise-url port>)
  --model-cache    model weights folder or Docker volume (default ~/.cache/fleetgate/models)
  --runtime        engine runtime: auto (docker when available), process or docker
`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const BIN = fileURLToPath(new URL('../bin.js', import.meta.url));

function validUrl(flag: string, value: string | undefined): string {
  if (!value) throw new UsageError(`${flag} is required`);
  if (!/^https?:\/\//.test(value) || !URL.canParse(value)) {
    throw new UsageError(`${flag} must be an http(s) URL, got '${value}'`);
  }
  return value.replace(/\/+$/, '');
}

export function systemdUnit(configPath: string): string {
  const user = userInfo().username;
  return `[Unit]
Description=fleetgate GPU node daemon
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=simple
User=${user}
Environment=FLEETGATE_NODE_CONFIG=${configPath}
ExecStart=${process.execPath} ${BIN} run --config ${configPath}
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

const consoleIo: RegisterIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

export async function runRegister(argv: string[], io: RegisterIo = consoleIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        gateway: { type: 'string' },
        token: { type: 'string' },
        name: { type: 'string' },
        'advertise-url': { type: 'string' },
        config: { type: 'string' },
        listen: { type: 'string' },
        'model-cache': { type: 'string' },
        runtime: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`fleetgate-node register: ${(err as Error).message}\n\n${REGISTER_USAGE}`);
    return 2;
  }
  if (values.help) {
    io.out(REGISTER_USAGE);
    return 0;
  }

  let gateway: string;
  let advertiseUrl: string;
  let listenAddress: string;
  let runtime: RuntimePreference = 'auto';
  const configPath = resolve(values.config ?? defaultConfigPath());
  try {
    gateway = validUrl('--gateway', values.gateway);
    advertiseUrl = validUrl('--advertise-url', values['advertise-url']);
    if (!values.token) throw new UsageError('--token is required');
    if (!values.name) throw new UsageError('--name is required');
    listenAddress = values.listen ?? defaultListen(advertiseUrl);
    parseListen(listenAddress);
    if (values.runtime !== undefined) {
      if (!(RUNTIME_PREFERENCES as readonly string[]).includes(values.runtime)) {
        throw new UsageError(`--runtime must be one of ${RUNTIME_PREFERENCES.join(', ')}`);
      }
      runtime = values.runtime as RuntimePreference;
    }
  } catch (err) {
    io.err(`fleetgate-node register: ${(err as Error).message}\n\n${REGISTER_USAGE}`);
    return 2;
  }

  const gpus = await queryGpus();
  if (gpus.error) io.err(`warning: ${gpus.error}; registering without GPUs`);
  const request = RegisterRequestSchema.safeParse({
    name: values.name,
    advertise_url: advertiseUrl,
    gpus: gpus.gpus,
    daemon_version: DAEMON_VERSION,
  });
  if (!request.success) {
    const issue = request.error.issues[0];
    io.err(
      `fleetgate-node register: invalid ${issue?.path.join('.') ?? 'request'}: ${issue?.message ?? ''}`,
    );
    return 2;
  }

  let answer;
  try {
    answer = await register(gateway, values.token, request.data);
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
      return 1;
    }
    throw err;
  }

  const config: NodeConfig = {
    gateway_url: gateway,
    node_id: answer.node_id,
    node_secret: answer.node_secret,
    name: values.name,
    advertise_url: advertiseUrl,
    issuer: answer.issuer,
    jwks: answer.jwks,
    heartbeat_interval_s: answer.heartbeat_interval_s,
    listen: listenAddress,
    model_cache: values['model-cache'] ?? defaultModelCache(),
    runtime,
  };
  try {
    await writeConfig(configPath, config);
  } catch (err) {
    io.err(
      `error: registered as ${answer.node_id}, but cannot write ${configPath}: ${(err as Error).message}`,
    );
    io.err('The node secret was not saved; delete the node on the gateway and register again.');
    return 1;
  }

  const home = homedir();
  const shown = configPath.startsWith(`${home}/`)
    ? `~${configPath.slice(home.length)}`
    : configPath;
  io.out(`Registered node '${values.name}' as ${answer.node_id} with ${gateway}.
GPUs reported: ${gpus.gpus.length ? gpus.gpus.map((g) => `${g.index}: ${g.name}`).join(', ') : 'none (CPU-only node)'}
Config (with the node secret, mode 0600): ${shown}

Next, start the daemon:

  ${process.execPath} ${BIN} run --config ${configPath}

The gateway must reach it at ${advertiseUrl} (listening on ${listenAddress}).
To run it as a service, save this as /etc/systemd/system/fleetgate-node.service,
then run: sudo systemctl daemon-reload && sudo systemctl enable --now fleetgate-node

${systemdUnit(configPath)}`);
  return 0;
}
