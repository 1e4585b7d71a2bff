// The daemon's configuration: one JSON file written by `fleetgate-node register` (it holds
// the node secret, so it is mode 0600) plus a few environment overrides. Parsed and
// validated here, once, at start-up; a bad value names the file or variable it came from.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { DataPlaneKeySchema, JwksSchema, NODE_MAX_BODY_BYTES } from '../../schema/contracts.ts';
import { NODE_MODES } from '../../schema/tunnel.ts';

export const RUNTIME_PREFERENCES = ['auto', 'process', 'docker'] as const;
export type RuntimePreference = (typeof RUNTIME_PREFERENCES)[number];

const httpUrl = z
  .string()
  .refine((s) => /^https?:\/\//.test(s) && URL.canParse(s), 'must be an http(s) URL');

const listenAddress = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be HOST:PORT');

const maxBodyBytes = z
  .number()
  .int()
  .min(1024)
  .max(4 * NODE_MAX_BODY_BYTES);

export const NodeConfigSchema = z
  .object({
    gateway_url: httpUrl,
    node_id: z.string().min(1),
    node_secret: z.string().min(1),
    name: z.string().min(1),
    // Where the gateway reaches the daemon; absent in tunnel mode.
    advertise_url: httpUrl.optional(),
    // direct: the gateway connects to advertise_url; tunnel: the daemon keeps a WebSocket open
    // to the gateway and takes requests through it (tunnel/), so it needs no inbound port.
    // Absent: direct (configs written before tunnel mode).
    mode: z.enum(NODE_MODES).optional(),
    issuer: z.string().min(1),
    jwks: JwksSchema,
    // This node's own data-plane key (HS256 tokens), from the registration or a heartbeat
    // answer; absent until a gateway that signs HS256 has sent one. A secret, like the node
    // secret.
    data_plane_key: DataPlaneKeySchema.optional(),
    heartbeat_interval_s: z.number().positive(),
    // Where the HTTP server binds; the gateway reaches it through advertise_url (direct mode)
    // or the tunnel, which sends each request to this listener (tunnel mode: loopback).
    listen: listenAddress,
    // Host folder (process runtime) or Docker volume name shared by the node's engines.
    model_cache: z.string().min(1),
    runtime: z.enum(RUNTIME_PREFERENCES).default('auto'),
    // Largest request body the daemon reads (bytes); default NODE_MAX_BODY_BYTES, everything
    // the gateway can forward. Larger bodies get 413, which the gateway passes to the client.
    max_body_bytes: maxBodyBytes.optional(),
    // Seconds an instance may have requests in flight and send no output before it counts
    // as hung and leaves rotation (control/watchdog.ts); default 60, 0 turns it off.
    hang_timeout_s: z.number().min(0).max(86_400).optional(),
  })
  .refine((c) => c.mode === 'tunnel' || c.advertise_url !== undefined, {
    message: 'advertise_url is required in direct mode',
    path: ['advertise_url'],
  });
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

// A tunnel node listens on loopback only, on any free port: the tunnel reaches it there.
export const TUNNEL_LISTEN = '127.0.0.1:0';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function defaultConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.FLEETGATE_NODE_CONFIG ?? join(homedir(), '.config', 'fleetgate', 'node.json'));
}

export function defaultModelCache(): string {
  return join(homedir(), '.cache', 'fleetgate', 'models');
}

// The listen address that matches an advertise URL's port on all interfaces.
export function defaultListen(advertiseUrl: string): string {
  const url = new URL(advertiseUrl);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return `0.0.0.0:${port}`;
}

export function parseListen(listen: string): { host: string; port: number } {
  const parsed = listenAddress.safeParse(listen);
  const idx = listen.lastIndexOf(':');
  const port = Number(listen.slice(idx + 1));
  if (!parsed.success || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new ConfigError(`invalid listen address '${listen}': must be HOST:PORT`);
  }
  return { host: listen.slice(0, idx).replace(/^\[(.*)\]$/, '$1'), port };
}

function issueText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

// Reads the config file and applies the environment overrides.
export async function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<NodeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `no config file at ${path}: register this node first (fleetgate-node register --help)`
        : `cannot read config file ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON`, { cause: err });
  }
  const parsed = NodeConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`config file ${path}: ${issueText(parsed.error)}`);
  const config = parsed.data;

  if (env.FLEETGATE_NODE_LISTEN) {
    parseListen(env.FLEETGATE_NODE_LISTEN);
    config.listen = env.FLEETGATE_NODE_LISTEN;
  }
  if (env.FLEETGATE_MODEL_CACHE) config.model_cache = env.FLEETGATE_MODEL_CACHE;
  if (env.FLEETGATE_NODE_RUNTIME) {
    const runtime = z.enum(RUNTIME_PREFERENCES).safeParse(env.FLEETGATE_NODE_RUNTIME);
    if (!runtime.success) {
      throw new ConfigError(
        `FLEETGATE_NODE_RUNTIME must be one of ${RUNTIME_PREFERENCES.join(', ')}`,
      );
    }
    config.runtime = runtime.data;
  }
  if (env.FLEETGATE_NODE_MAX_BODY_BYTES) {
    const bytes = maxBodyBytes.safeParse(Number(env.FLEETGATE_NODE_MAX_BODY_BYTES));
    if (!bytes.success) {
      throw new ConfigError(
        `FLEETGATE_NODE_MAX_BODY_BYTES must be an integer from 1024 to ${4 * NODE_MAX_BODY_BYTES}`,
      );
    }
    config.max_body_bytes = bytes.data;
  }
  if (env.FLEETGATE_NODE_HANG_TIMEOUT_S) {
    const seconds = Number(env.FLEETGATE_NODE_HANG_TIMEOUT_S);
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 86_400) {
      throw new ConfigError(
        'FLEETGATE_NODE_HANG_TIMEOUT_S must be a number of seconds from 0 to 86400',
      );
    }
    config.hang_timeout_s = seconds;
  }
  return config;
}

// Writes the config readable by its owner only. The file holds the node secret, so it
// never exists with wider permissions, not even briefly: a temp file created 0600 in the
// same folder, then renamed over the old one.
export async function writeConfig(path: string, config: NodeConfig): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const file = await open(tmp, 'wx', 0o600);
  try {
    await file.writeFile(`${JSON.stringify(config, null, 2)}\n`, 'utf8');
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
