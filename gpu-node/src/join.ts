// `fleetgate-node join`: registers this machine when it has no identity yet, then runs the
// daemon. With an identity already in the config file it only runs, so the same command
// can be a service's or a container's command line: a restart never makes a second node,
// and the one-use registration token is not needed again.
import { stat } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, defaultConfigPath, loadConfig } from './config.ts';
import {
  consoleIo,
  NODE_OPTIONS_USAGE,
  parseRegisterArgs,
  planRegistration,
  registerNode,
  shownPath,
  validUrl,
  type RegisterIo,
} from './register.ts';

export const DEFAULT_NODE_PORT = 8788;

export const JOIN_USAGE = `Usage: fleetgate-node join --gateway URL [--token TOKEN] [--name NAME] [--advertise-url URL | --tunnel]
                           [--config PATH] [--listen HOST:PORT] [--model-cache DIR]
                           [--runtime auto|process|docker]

Registers this machine with the gateway unless the config file already holds its identity,
then runs the daemon. Run again, it only runs (the token is not used again).

  --gateway        the gateway's base URL (e.g. https://gateway.example.com)
  --token          a registration token from an admin (fleetgate tokens create), or
                   FLEETGATE_REGISTRATION_TOKEN; needed only to register
  --name           this node's name (default: the host name)
  --advertise-url  the URL the gateway reaches this daemon at (default
                   http://<this machine's first non-loopback IPv4>:${DEFAULT_NODE_PORT})
${NODE_OPTIONS_USAGE}`;

// A node name from the host name: the characters a name may have, at most 63 of them.
export function nameFromHostname(host: string): string {
  const name = host
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[-.]+|[-.]+$/g, '')
    .slice(0, 63);
  return name || 'gpu-node';
}

// The address other machines most likely reach this one at: the first non-internal IPv4.
export function primaryAddress(
  interfaces: ReturnType<typeof networkInterfaces> = networkInterfaces(),
): string | undefined {
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return undefined;
}

export function defaultAdvertiseUrl(): string {
  return `http://${primaryAddress() ?? hostname()}:${DEFAULT_NODE_PORT}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

// Runs the daemon from a config file until it is stopped; answers the exit code.
export type RunFromConfig = (configPath: string, listen: string | undefined) => Promise<number>;

export async function runJoin(
  argv: string[],
  run: RunFromConfig,
  io: RegisterIo = consoleIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const parsed = parseRegisterArgs(argv, 'join', JOIN_USAGE, io);
  if (typeof parsed === 'number') return parsed;
  const values = parsed;

  const configPath = resolve(values.config ?? defaultConfigPath(env));
  let gateway: string;
  try {
    gateway = validUrl('--gateway', values.gateway);
  } catch (err) {
    io.err(`fleetgate-node join: ${(err as Error).message}\n\n${JOIN_USAGE}`);
    return 2;
  }

  if (await exists(configPath)) {
    let config;
    try {
      config = await loadConfig(configPath, env);
    } catch (err) {
      // Registering again would make a second node; the operator decides what to do.
      if (err instanceof ConfigError) {
        io.err(`fleetgate-node join: ${err.message}`);
        return 2;
      }
      throw err;
    }
    if (config.gateway_url !== gateway) {
      io.err(
        `fleetgate-node join: ${shownPath(configPath)} is node ${config.node_id} of ${config.gateway_url}, not of ${gateway}; ` +
          'use another --config to join another gateway, or delete the node and this file to register again',
      );
      return 2;
    }
    io.out(
      `fleetgate-node join: already registered as '${config.name}' (${config.node_id}); running it`,
    );
    return run(configPath, values.listen);
  }

  let plan;
  try {
    plan = planRegistration(
      {
        ...values,
        token: values.token ?? env.FLEETGATE_REGISTRATION_TOKEN,
        name: values.name ?? nameFromHostname(hostname()),
        'advertise-url': values.tunnel
          ? values['advertise-url']
          : (values['advertise-url'] ?? defaultAdvertiseUrl()),
        config: configPath,
      },
      env,
    );
  } catch (err) {
    io.err(`fleetgate-node join: ${(err as Error).message}\n\n${JOIN_USAGE}`);
    return 2;
  }
  const result = await registerNode(plan, io, 'join');
  if (!result.ok) return result.exitCode;
  const { config, gpuNames } = result;
  io.out(
    `fleetgate-node join: registered '${config.name}' as ${config.node_id} with ${gateway} ` +
      `(GPUs: ${gpuNames.length ? gpuNames.join(', ') : 'none'}); config in ${shownPath(configPath)}; ` +
      (config.advertise_url === undefined
        ? 'it takes requests through a tunnel it opens to the gateway'
        : `the gateway reaches this daemon at ${config.advertise_url}`),
  );
  return run(configPath, values.listen);
}
