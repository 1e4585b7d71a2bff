// The gpu-node daemon: control loop (register/heartbeat/reconcile) plus the HTTP server.
// `startDaemon()` runs it in-process (tests, the dev stack); run as a script, this file is
// the `fleetgate-node` command line with `run` as the default command.
import { pathToFileURL } from 'node:url';
import type { DataPlaneKey, Jwks } from '../../schema/contracts.ts';
import { parseListen, writeConfig, type NodeConfig } from './config.ts';
import { ControlLoop } from './control/loop.ts';
import { Supervisor } from './control/supervisor.ts';
import { queryGpus as queryNvidiaSmi, type GpuQuery } from './gpus/nvidia-smi.ts';
import { consoleLogger, type Logger } from './log.ts';
import type { Recipe } from './recipes/types.ts';
import { createRuntimes, loadDockerRuntime, type RuntimeSet } from './runtimes/index.ts';
import { DataPlaneVerifier } from './server/auth.ts';
import { createNodeServer, listen } from './server/http.ts';
import { TunnelClient } from './tunnel/client.ts';
import { DAEMON_VERSION } from './version.ts';

export interface DaemonOptions {
  config: NodeConfig;
  // When given, JWKS rotations and data-plane keys are written back so a restart without the
  // gateway still verifies tokens signed with the new keys.
  configPath?: string;
  // HOST:PORT, overriding the config's listen address (port 0: any free port).
  listen?: string;
  log?: Logger;
  runtimes?: RuntimeSet;
  queryGpus?: () => Promise<GpuQuery>;
  // Recipes by name (default: all of recipes/index.ts).
  recipes?: Record<string, Recipe>;
  // How often engines are checked (exits, health, metrics).
  tickMs?: number;
}

export interface Daemon {
  url: string;
  supervisor: Supervisor;
  loop: ControlLoop;
  // Tunnel mode's connection to the gateway.
  tunnel: TunnelClient | undefined;
  close(): Promise<void>;
  // SIGKILL to every engine process, synchronously (for process.on('exit')).
  killEnginesSync(): void;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const log = opts.log ?? consoleLogger();
  const config = { ...opts.config };
  const { host, port } = parseListen(opts.listen ?? config.listen);
  const runtimes = opts.runtimes ?? (await createRuntimes(config.runtime, loadDockerRuntime));
  if (!runtimes.docker && config.runtime !== 'process') {
    log.info(
      `docker runtime unavailable (${runtimes.dockerUnavailable ?? 'unknown'}); process runtime only`,
    );
  }
  const verifier = new DataPlaneVerifier(config.node_id, config.issuer, config.jwks);
  if (config.data_plane_key) verifier.setNodeKey(config.data_plane_key);

  let gpus: () => number[] = () => [];
  const supervisor = new Supervisor({
    nodeId: config.node_id,
    runtimes,
    recipes: opts.recipes ?? (await import('./recipes/index.ts')).recipes,
    gpuIndices: () => gpus(),
    modelCache: config.model_cache,
    log,
    metricsIntervalMs: Math.max(1000, config.heartbeat_interval_s * 1000),
    ...(config.hang_timeout_s === undefined ? {} : { hangTimeoutMs: config.hang_timeout_s * 1000 }),
  });

  let saving = Promise.resolve();
  const save = (what: string) => {
    const path = opts.configPath;
    if (!path) return;
    saving = saving
      .then(() => writeConfig(path, config))
      .catch((err: unknown) => log.warn(`cannot save the new ${what} to ${path}: ${String(err)}`));
  };
  const onJwks = (jwks: Jwks) => {
    if (!verifier.setJwks(jwks)) return;
    log.info('the gateway rotated its signing keys; key set updated');
    config.jwks = jwks;
    save('key set');
  };
  // The key itself is a secret: only its kid is ever logged.
  const onDataPlaneKey = (key: DataPlaneKey) => {
    if (!verifier.setNodeKey(key)) return;
    log.info(`data-plane key ${key.kid} received; the gateway may now sign HS256 tokens`);
    config.data_plane_key = key;
    save('data-plane key');
  };

  const loop = new ControlLoop({
    gatewayUrl: config.gateway_url,
    nodeSecret: config.node_secret,
    daemonVersion: DAEMON_VERSION,
    intervalS: config.heartbeat_interval_s,
    supervisor,
    queryGpus: opts.queryGpus ?? (() => queryNvidiaSmi()),
    onJwks,
    onDataPlaneKey,
    dataPlaneKeyId: () => verifier.nodeKeyId,
    log,
  });
  gpus = () => loop.gpus.map((g) => g.index);

  await loop.refreshGpus();
  log.info(
    loop.gpus.length
      ? `GPUs: ${loop.gpus.map((g) => `${g.index}: ${g.name} (${g.memory_total_mib} MiB)`).join(', ')}`
      : 'no GPUs found (nvidia-smi missing or none visible): CPU-only node',
  );
  await supervisor.adopt();

  const server = createNodeServer({
    supervisor,
    verifier,
    registered: () => loop.registered(),
    snapshot: () => {
      const totals = supervisor.totals();
      return {
        inFlight: totals.inFlight,
        queued: totals.queued,
        heartbeatFailuresTotal: loop.failuresTotal,
        tokenCacheEvictionsTotal: verifier.tokensEvicted,
        registered: loop.registered(),
        gpus: loop.gpus,
        instances: supervisor.describe(),
      };
    },
    log,
    ...(config.max_body_bytes ? { bodyLimits: { maxBytes: config.max_body_bytes } } : {}),
  });
  const address = await listen(server, host, port);
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  log.info(`fleetgate-node ${config.name} (${config.node_id}) listening on ${url}`);
  // Tunnel mode: requests come through the socket this daemon opens to the gateway, and go
  // to the listener above (loopback), which checks their JWTs as it does direct requests.
  const tunnel =
    config.mode === 'tunnel'
      ? new TunnelClient({
          gatewayUrl: config.gateway_url,
          nodeSecret: config.node_secret,
          target: { host: loopbackOf(address.address), port: address.port },
          log,
        })
      : undefined;
  tunnel?.start();

  let ticking = false;
  const ticker = setInterval(() => {
    if (ticking) return;
    ticking = true;
    supervisor
      .tick()
      .catch((err: unknown) => log.error(`engine check failed: ${String(err)}`))
      .finally(() => {
        ticking = false;
      });
  }, opts.tickMs ?? 500);
  loop.start();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      clearInterval(ticker);
      await tunnel?.stop();
      await loop.stop();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await supervisor.shutdown();
      runtimes.process.killAllSync();
      await saving;
    })();
    return closing;
  };
  return {
    url,
    supervisor,
    loop,
    tunnel,
    close,
    killEnginesSync: () => runtimes.process.killAllSync(),
  };
}

// The address the tunnel reaches the listener at: the one it binds, or loopback when it
// binds every interface.
function loopbackOf(address: string): string {
  if (address === '0.0.0.0') return '127.0.0.1';
  if (address === '::') return '::1';
  return address;
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (invokedDirectly) {
  // Not a top-level await: cli.ts imports this module, which must finish evaluating first.
  void import('./cli.ts')
    .then(({ main }) => main(process.argv.slice(2), 'run'))
    .then((code) => {
      process.exitCode = code;
    });
}
