// The whole fleetgate stack from real processes: a Node-host gateway on an embedded libSQL
// file, gpu-node daemons registered with real registration tokens, and deployments made
// through the admin API. Shared by the end-to-end tests, `npm start` and the benchmark.
import { join } from 'node:path';
import { freePort, runToEnd, startService, type Service } from './processes.ts';

export interface Gateway {
  url: string;
  adminToken: string;
  service: Service;
  admin: AdminApi;
}

export interface GatewayOptions {
  dataDir: string;
  adminToken: string;
  port?: number;
  heartbeatIntervalS?: number;
  echo?: boolean;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const port = opts.port ?? (await freePort());
  const service = await startService({
    name: 'gateway',
    entry: 'gateway/src/node.ts',
    env: {
      FLEETGATE_ADMIN_TOKEN: opts.adminToken,
      FLEETGATE_DB_URL: `file:${join(opts.dataDir, 'fleetgate.db')}`,
      FLEETGATE_PORT: String(port),
      FLEETGATE_HOST: '127.0.0.1',
      FLEETGATE_HEARTBEAT_INTERVAL_S: String(opts.heartbeatIntervalS ?? 1),
      ...opts.env,
    },
    ready: /listening on http/,
    echo: opts.echo,
    nodeArgs: opts.nodeArgs,
  });
  const url = `http://127.0.0.1:${port}`;
  return { url, adminToken: opts.adminToken, service, admin: adminApi(url, opts.adminToken) };
}

export interface AdminApi {
  request<T>(method: string, path: string, body?: unknown): Promise<T>;
}

export class AdminApiError extends Error {
  override readonly name = 'AdminApiError';
  constructor(
    readonly status: number,
    readonly body: unknown,
    message: string,
  ) {
    super(message);
  }
}

export function adminApi(url: string, adminToken: string): AdminApi {
  return {
    async request<T>(method: string, path: string, body?: unknown): Promise<T> {
      const res = await fetch(`${url}/admin/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      const parsed: unknown = text ? JSON.parse(text) : undefined;
      if (!res.ok) {
        throw new AdminApiError(res.status, parsed, `${method} ${path}: ${res.status} ${text}`);
      }
      return parsed as T;
    },
  };
}

export interface GpuNode {
  url: string;
  nodeId: string;
  configPath: string;
  service: Service;
}

export interface NodeOptions {
  gateway: Gateway;
  name: string;
  configPath: string;
  port?: number;
  echo?: boolean;
  env?: Record<string, string>;
  // Tunnel mode: registered with --tunnel, reached through the WebSocket it opens.
  tunnel?: boolean;
}

// Creates a registration token, runs the registration script, and returns the node's id.
export async function registerNode(opts: NodeOptions & { port: number }): Promise<string> {
  const token = await opts.gateway.admin.request<{ token: string }>(
    'POST',
    '/registration-tokens',
    { name: opts.name, ttl_s: 600, uses: 1 },
  );
  const result = await runToEnd(
    'gpu-node/src/daemon.ts',
    [
      'register',
      '--gateway',
      opts.gateway.url,
      '--token',
      token.token,
      '--name',
      opts.name,
      ...(opts.tunnel ? ['--tunnel'] : ['--advertise-url', `http://127.0.0.1:${opts.port}`]),
      '--config',
      opts.configPath,
    ],
    opts.env,
  );
  if (result.code !== 0) {
    throw new Error(
      `registration failed (${String(result.code)}):\n${result.stdout}\n${result.stderr}`,
    );
  }
  const nodes = await opts.gateway.admin.request<{ data: { id: string; name: string }[] }>(
    'GET',
    '/nodes',
  );
  const node = nodes.data.find((n) => n.name === opts.name);
  if (!node) throw new Error(`node ${opts.name} is not listed after registration`);
  return node.id;
}

// Runs an already registered daemon from its config file.
export async function runNode(
  opts: Omit<NodeOptions, 'gateway'> & { port: number; nodeId: string; nodeArgs?: string[] },
): Promise<GpuNode> {
  const service = await startService({
    name: opts.name,
    entry: 'gpu-node/src/daemon.ts',
    args: ['run', '--config', opts.configPath, '--listen', `127.0.0.1:${opts.port}`],
    env: opts.env,
    ready: /listening on http/,
    echo: opts.echo,
    nodeArgs: opts.nodeArgs,
  });
  return {
    url: `http://127.0.0.1:${opts.port}`,
    nodeId: opts.nodeId,
    configPath: opts.configPath,
    service,
  };
}

// nodeArgs go to the daemon's node process only, not to the registration script's.
export async function startNode(opts: NodeOptions & { nodeArgs?: string[] }): Promise<GpuNode> {
  const port = opts.port ?? (await freePort());
  const nodeId = await registerNode({ ...opts, port });
  return runNode({ ...opts, port, nodeId });
}

export interface Instance {
  id: string;
  node_id: string;
  state: string;
  detail?: string | null;
}

export interface Deployment {
  id: string;
  model: string;
  replicas: number;
  instances: Instance[];
}

export function createDeployment(
  gateway: Gateway,
  body: {
    model: string;
    recipe: string;
    options?: unknown;
    placement?: unknown;
    replicas?: number;
  },
): Promise<Deployment> {
  return gateway.admin.request<Deployment>('POST', '/deployments', body);
}

// Polls until `replicas` instances of the deployment are ready.
export async function waitForReady(
  gateway: Gateway,
  deploymentId: string,
  timeoutMs = 60_000,
): Promise<Deployment> {
  const deadline = Date.now() + timeoutMs;
  let last: Deployment | undefined;
  while (Date.now() < deadline) {
    last = await gateway.admin.request<Deployment>('GET', `/deployments/${deploymentId}`);
    const ready = last.instances.filter((i) => i.state === 'ready').length;
    if (ready >= last.replicas && last.replicas > 0) return last;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `deployment ${deploymentId} not ready in ${timeoutMs} ms: ${JSON.stringify(last)}`,
  );
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(
    `timed out waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
  );
}
