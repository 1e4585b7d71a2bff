// The node's engines and their lifecycle. reconcile() takes the desired set from a
// heartbeat answer; tick() (about once a second) starts what is missing, notices engines
// that exited, health-checks, scrapes metrics and restarts crashed engines with back-off.
// States follow schema/contracts.ts: pending -> (pulling) -> starting -> ready, or failed.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type {
  DesiredInstance,
  EngineMetrics,
  InstanceState,
  InstanceStatus,
} from '../../../schema/contracts.ts';
import { probeHealth, scrapeMetrics } from '../engines/probe.ts';
import type { PrefixCounters } from '../engines/metrics-map.ts';
import { RecipeOptionsError, type Recipe, type RecipeContext } from '../recipes/types.ts';
import { chooseRuntime, type RuntimeSet } from '../runtimes/index.ts';
import type { EngineStatus, PullProgress, Runtime } from '../runtimes/types.ts';
import {
  backoffDelay,
  RESTART_BACKOFF,
  RESTART_BACKOFF_RESET_MS,
  type Backoff,
} from './backoff.ts';
import { assignGpus } from './gpu-assign.ts';

export const SPEC_HASH_LABEL = 'fleetgate.spec-hash';

// Consecutive failed health checks before a ready engine is reported failed.
const UNHEALTHY_AFTER = 3;

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

// Where and how the proxy reaches an engine.
export interface Endpoint {
  baseUrl: string;
  healthUrl: string;
  metricsUrl?: string;
  headers: Record<string, string>;
  servedModelName?: string;
}

interface Managed {
  id: string;
  deploymentId: string;
  model: string;
  // Undefined for an engine adopted at start-up before the first heartbeat answer.
  desired?: DesiredInstance;
  key: string;
  recipe?: Recipe;
  options?: Record<string, unknown>;
  runtime?: Runtime;
  state: InstanceState;
  detail?: string;
  progress?: PullProgress;
  gpuIndices: number[];
  endpoint?: Endpoint;
  handle?: string;
  restarts: number;
  // Consecutive crashes or failed starts; sets the back-off.
  failures: number;
  nextStartAt: number;
  startedOnce: boolean;
  readySince?: number;
  healthFailures: number;
  prepared: boolean;
  inFlight: number;
  metrics?: EngineMetrics;
  prefixCounters?: PrefixCounters;
  lastScrapeAt: number;
  warnedUnknownMetrics: boolean;
  // Bad options or a missing runtime: nothing to retry until the desired instance changes.
  permanent: boolean;
  removing: boolean;
  // The running start/prepare/stop operation; operations never overlap.
  op?: Promise<void>;
  abort?: AbortController;
  checking: boolean;
  // An earlier engine under the same id that must be gone before this one starts.
  after?: Promise<void>;
}

// What the proxy needs to send one request to an instance.
export interface RouteTarget {
  state: InstanceState;
  detail?: string;
  endpoint?: Endpoint;
  // Counts the request in flight; call the returned function once when it ends.
  begin(): () => void;
}

export interface InstanceManagerOptions {
  nodeId: string;
  runtimes: RuntimeSet;
  recipes: Record<string, Recipe>;
  // GPU indices of the node's inventory (updated by the control loop).
  gpuIndices: () => number[];
  modelCache: string;
  log: Logger;
  allocatePort?: () => Promise<number>;
  now?: () => number;
  backoff?: Backoff;
  // How often a ready engine's metrics are read.
  metricsIntervalMs?: number;
}

export function specHash(d: DesiredInstance): string {
  const canonical = JSON.stringify([
    d.deployment_id,
    d.model,
    d.recipe,
    d.gpus,
    sortKeys(d.options),
  ]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => [k, sortKeys(v)]),
    );
  }
  return value;
}

export function freeLocalPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function localEndpoint(port: number, healthPath: string, metricsPath?: string): Endpoint {
  const baseUrl = `http://127.0.0.1:${port}`;
  const endpoint: Endpoint = { baseUrl, healthUrl: `${baseUrl}${healthPath}`, headers: {} };
  if (metricsPath) endpoint.metricsUrl = `${baseUrl}${metricsPath}`;
  return endpoint;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class InstanceManager {
  private readonly instances = new Map<string, Managed>();
  // Engines being stopped; they still hold their GPUs until they are gone.
  private readonly stopping = new Set<Managed>();
  private readonly now: () => number;
  private readonly backoff: Backoff;
  private readonly allocatePort: () => Promise<number>;
  private readonly metricsIntervalMs: number;

  constructor(private readonly opts: InstanceManagerOptions) {
    this.now = opts.now ?? Date.now;
    this.backoff = opts.backoff ?? RESTART_BACKOFF;
    this.allocatePort = opts.allocatePort ?? freeLocalPort;
    this.metricsIntervalMs = opts.metricsIntervalMs ?? 2000;
  }

  // Takes over engines a runtime still runs for this node (docker containers after a
  // daemon restart). Until the first heartbeat answer says whether they are wanted they
  // keep serving; reconcile() then keeps the matching ones and stops the rest.
  async adopt(): Promise<void> {
    const runtimes = [this.opts.runtimes.docker].filter((r): r is Runtime => r !== undefined);
    for (const runtime of runtimes) {
      let found: EngineStatus[];
      try {
        found = await runtime.list(this.opts.nodeId);
      } catch (err) {
        this.opts.log.warn(`cannot list ${runtime.kind} engines for adoption: ${message(err)}`);
        continue;
      }
      for (const status of found) {
        const usable =
          status.state === 'running' &&
          status.port !== undefined &&
          !this.instances.has(status.instanceId);
        if (!usable) {
          this.opts.log.info(
            `removing leftover ${runtime.kind} engine ${status.handle} (${status.instanceId})`,
          );
          void this.discard(runtime, status.handle);
          continue;
        }
        const port = status.port ?? 0;
        this.opts.log.info(
          `adopting ${runtime.kind} engine ${status.handle} for instance ${status.instanceId}`,
        );
        this.instances.set(status.instanceId, {
          ...this.blank(status.instanceId, status.deploymentId, ''),
          key: status.labels?.[SPEC_HASH_LABEL] ?? '',
          runtime,
          handle: status.handle,
          gpuIndices: status.gpuIndices ?? [],
          endpoint: localEndpoint(port, '/health'),
          state: 'starting',
          startedOnce: true,
        });
      }
    }
  }

  reconcile(desired: DesiredInstance[]): void {
    const wanted = new Map(desired.map((d) => [d.instance_id, d]));
    for (const [id, m] of this.instances) {
      const d = wanted.get(id);
      if (!d || specHash(d) !== m.key) this.remove(m);
    }
    for (const d of desired) {
      const existing = this.instances.get(d.instance_id);
      if (existing) {
        if (!existing.desired) this.completeAdoption(existing, d);
        existing.desired = d;
        continue;
      }
      const replaced = [...this.stopping].find((s) => s.id === d.instance_id);
      this.instances.set(d.instance_id, this.create(d, replaced?.op));
    }
  }

  async tick(): Promise<void> {
    const now = this.now();
    await Promise.all([...this.instances.values()].map((m) => this.check(m, now)));
  }

  statuses(): InstanceStatus[] {
    return [...this.instances.values()].map((m) => {
      const status: InstanceStatus = {
        instance_id: m.id,
        deployment_id: m.deploymentId,
        state: m.state,
        gpu_indices: [...m.gpuIndices],
        in_flight: m.inFlight,
        restarts: m.restarts,
      };
      if (m.detail) status.detail = m.detail.slice(0, 2000);
      if (m.progress && m.state === 'pulling') {
        status.progress = { bytes: m.progress.bytes };
        if (m.progress.totalBytes !== undefined)
          status.progress.total_bytes = m.progress.totalBytes;
        if (m.progress.percent !== undefined) {
          status.progress.percent = Math.min(100, Math.max(0, m.progress.percent));
        }
      }
      if (m.metrics) status.metrics = m.metrics;
      return status;
    });
  }

  // For /metrics: the instances with their model names.
  describe(): { id: string; deploymentId: string; model: string; status: InstanceStatus }[] {
    const statuses = new Map(this.statuses().map((s) => [s.instance_id, s]));
    return [...this.instances.values()].flatMap((m) => {
      const status = statuses.get(m.id);
      return status ? [{ id: m.id, deploymentId: m.deploymentId, model: m.model, status }] : [];
    });
  }

  // Whether every instance the gateway wants is ready (for /readyz).
  notReady(): { instance_id: string; state: InstanceState; detail?: string }[] {
    return [...this.instances.values()]
      .filter((m) => m.desired && m.state !== 'ready')
      .map((m) =>
        m.detail
          ? { instance_id: m.id, state: m.state, detail: m.detail }
          : { instance_id: m.id, state: m.state },
      );
  }

  takenGpus(): Set<number> {
    const taken = new Set<number>();
    for (const m of [...this.instances.values(), ...this.stopping]) {
      for (const i of m.gpuIndices) taken.add(i);
    }
    return taken;
  }

  freeGpus(): number[] {
    const taken = this.takenGpus();
    return this.opts.gpuIndices().filter((i) => !taken.has(i));
  }

  totals(): { inFlight: number; queued: number } {
    let inFlight = 0;
    let queued = 0;
    for (const m of this.instances.values()) {
      inFlight += m.inFlight;
      queued += m.metrics?.requests_waiting ?? 0;
    }
    return { inFlight, queued };
  }

  route(instanceId: string): RouteTarget | undefined {
    const m = this.instances.get(instanceId);
    if (!m) return undefined;
    const target: RouteTarget = {
      state: m.state,
      begin: () => {
        m.inFlight += 1;
        let done = false;
        return () => {
          if (done) return;
          done = true;
          m.inFlight -= 1;
        };
      },
    };
    if (m.detail) target.detail = m.detail;
    if (m.endpoint) target.endpoint = m.endpoint;
    return target;
  }

  async logs(instanceId: string, tail: number): Promise<string[] | undefined> {
    const m = this.instances.get(instanceId);
    if (!m) return undefined;
    if (!m.runtime || !m.handle) return [];
    return m.runtime.logs(m.handle, tail);
  }

  // Stops engines on daemon shutdown. Docker containers are left running on purpose: the
  // next daemon adopts them, so a daemon upgrade does not reload model weights. Processes
  // are children of the daemon and cannot be adopted, so they are stopped.
  async shutdown(): Promise<void> {
    const all = [...this.instances.values()];
    for (const m of all) m.abort?.abort();
    await Promise.all(
      all.map(async (m) => {
        await m.op?.catch(() => undefined);
        if (m.runtime?.kind === 'process' && m.handle) {
          await m.runtime.stop(m.handle, this.graceOf(m)).catch(() => undefined);
          await m.runtime.remove(m.handle).catch(() => undefined);
        }
      }),
    );
    await Promise.all(
      [...this.stopping].map(async (m) => {
        await m.op?.catch(() => undefined);
      }),
    );
  }

  private blank(id: string, deploymentId: string, model: string): Managed {
    return {
      id,
      deploymentId,
      model,
      key: '',
      state: 'pending',
      gpuIndices: [],
      restarts: 0,
      failures: 0,
      nextStartAt: 0,
      startedOnce: false,
      healthFailures: 0,
      prepared: false,
      inFlight: 0,
      lastScrapeAt: 0,
      warnedUnknownMetrics: false,
      permanent: false,
      removing: false,
      checking: false,
    };
  }

  private create(d: DesiredInstance, after?: Promise<void>): Managed {
    const m = this.blank(d.instance_id, d.deployment_id, d.model);
    m.desired = d;
    m.key = specHash(d);
    if (after) {
      m.after = after.then(
        () => undefined,
        () => undefined,
      );
      void m.after.then(() => {
        m.after = undefined;
      });
    }
    const recipe = this.opts.recipes[d.recipe];
    if (!recipe) return this.fail(m, `unknown recipe '${d.recipe}'`, true);
    m.recipe = recipe;
    const gpuCount = this.opts.gpuIndices().length;
    try {
      m.options = recipe.parse(d.options, gpuCount).options;
    } catch (err) {
      if (err instanceof RecipeOptionsError) return this.fail(m, err.message, true);
      throw err;
    }
    if (d.gpus > gpuCount) {
      return this.fail(m, `needs ${d.gpus} GPU(s) but this node has ${gpuCount}`, true);
    }
    const choice = chooseRuntime(this.opts.runtimes, recipe, m.options);
    if (!choice.ok) return this.fail(m, choice.detail, true);
    if (choice.kind === 'none') {
      const upstream = recipe.upstream?.(m.options, this.context(m, 0));
      if (!upstream) return this.fail(m, `recipe '${d.recipe}' names no engine URL`, true);
      m.endpoint = { ...upstream };
      m.state = 'starting';
    } else {
      m.runtime = choice.runtime;
    }
    this.opts.log.info(`instance ${m.id}: ${d.recipe} serving '${d.model}'`);
    return m;
  }

  // An engine adopted at start-up now has its desired instance (with a matching spec).
  private completeAdoption(m: Managed, d: DesiredInstance): void {
    m.model = d.model;
    const recipe = this.opts.recipes[d.recipe];
    if (!recipe) return;
    m.recipe = recipe;
    try {
      m.options = recipe.parse(d.options, this.opts.gpuIndices().length).options;
      const spec = recipe.spec(m.options, this.context(m, 0));
      const port = m.endpoint ? Number(new URL(m.endpoint.baseUrl).port) : spec.port;
      m.endpoint = localEndpoint(port, spec.healthPath, spec.metricsPath);
    } catch {
      // Options that no longer parse were changed, which the spec hash would have caught.
    }
  }

  private fail(m: Managed, detail: string, permanent = false): Managed {
    // Logged once per distinct reason, not on every retry.
    if (m.state !== 'failed' || m.detail !== detail)
      this.opts.log.warn(`instance ${m.id}: ${detail}`);
    m.state = 'failed';
    m.detail = detail;
    m.permanent = permanent;
    return m;
  }

  private context(m: Managed, port: number): RecipeContext {
    return {
      nodeId: this.opts.nodeId,
      instanceId: m.id,
      deploymentId: m.deploymentId,
      model: m.model,
      gpuIndices: m.gpuIndices,
      port,
      modelCache: this.opts.modelCache,
    };
  }

  private graceOf(m: Managed): number {
    if (!m.recipe || !m.options) return 10;
    try {
      return m.recipe.spec(m.options, this.context(m, 0)).stopGraceSeconds ?? 10;
    } catch {
      return 10;
    }
  }

  private remove(m: Managed): void {
    this.instances.delete(m.id);
    if (m.removing) return;
    m.removing = true;
    m.abort?.abort();
    this.stopping.add(m);
    this.opts.log.info(`instance ${m.id}: no longer desired, stopping`);
    const previous = m.op ?? Promise.resolve();
    m.op = previous
      .catch(() => undefined)
      .then(async () => {
        if (m.runtime && m.handle) await this.discard(m.runtime, m.handle, this.graceOf(m));
        m.handle = undefined;
        m.state = 'stopped';
      })
      .finally(() => {
        m.gpuIndices = [];
        this.stopping.delete(m);
      });
  }

  private async discard(runtime: Runtime, handle: string, grace = 10): Promise<void> {
    try {
      await runtime.stop(handle, grace);
      await runtime.remove(handle);
    } catch (err) {
      this.opts.log.warn(`cannot stop ${runtime.kind} engine ${handle}: ${message(err)}`);
    }
  }

  private run(m: Managed, what: string, work: (signal: AbortSignal) => Promise<void>): void {
    const abort = new AbortController();
    m.abort = abort;
    m.op = work(abort.signal)
      .catch((err: unknown) => {
        if (abort.signal.aborted || m.removing) return;
        this.opts.log.warn(`instance ${m.id}: ${what} failed: ${message(err)}`);
      })
      .finally(() => {
        if (m.abort === abort) m.abort = undefined;
        m.op = undefined;
      });
  }

  private async check(m: Managed, now: number): Promise<void> {
    if (m.checking || m.op || m.after || m.removing || m.permanent) return;
    m.checking = true;
    try {
      if (m.runtime && !m.handle) {
        if (now >= m.nextStartAt) this.start(m);
        return;
      }
      if (m.runtime && m.handle) {
        const status = await m.runtime.inspect(m.handle).catch(() => undefined);
        if (m.removing || m.op) return;
        if (!status || status.state === 'exited') {
          await this.crashed(m, status, now);
          return;
        }
      }
      if (m.endpoint) await this.probe(m, now);
    } finally {
      m.checking = false;
    }
  }

  private async crashed(m: Managed, status: EngineStatus | undefined, now: number): Promise<void> {
    const runtime = m.runtime;
    const handle = m.handle;
    let last = '';
    if (runtime && handle) {
      const lines = await runtime.logs(handle, 5).catch(() => []);
      last =
        lines
          .filter((l) => l.trim())
          .at(-1)
          ?.trim() ?? '';
      await runtime.remove(handle).catch(() => undefined);
    }
    m.handle = undefined;
    m.readySince = undefined;
    m.prepared = false;
    m.metrics = undefined;
    m.prefixCounters = undefined;
    m.failures += 1;
    m.nextStartAt = now + backoffDelay(m.failures, this.backoff);
    const code = status?.exitCode;
    const why = status
      ? `engine exited${code === undefined ? '' : ` with code ${code}`}`
      : 'engine is gone';
    const delay = Math.round(backoffDelay(m.failures, this.backoff) / 1000);
    this.fail(m, `${why}${last ? `: ${last}` : ''}; restarting in ${delay}s`);
    // An adopted engine keeps its GPUs; a managed one gets them again on restart.
    if (m.desired) m.gpuIndices = [];
    else this.instances.delete(m.id);
  }

  private start(m: Managed): void {
    const d = m.desired;
    const recipe = m.recipe;
    const runtime = m.runtime;
    const options = m.options;
    if (!d || !recipe || !runtime || !options) return;
    const assignment = assignGpus(this.opts.gpuIndices(), this.takenGpus(), d.gpus);
    if (!assignment.ok) {
      // Not a crash: wait for another instance to free its GPUs.
      this.fail(m, assignment.detail);
      m.nextStartAt = this.now() + 5000;
      return;
    }
    m.gpuIndices = assignment.indices;
    this.run(m, 'start', async (signal) => {
      const port = await this.allocatePort();
      const spec = recipe.spec(options, this.context(m, port));
      spec.labels = { ...spec.labels, [SPEC_HASH_LABEL]: m.key };
      if (m.startedOnce) m.restarts += 1;
      m.state = 'starting';
      m.detail = undefined;
      m.healthFailures = 0;
      try {
        const status = await runtime.start(
          spec,
          {
            onPullProgress: (p) => {
              m.state = 'pulling';
              m.progress = p;
            },
          },
          signal,
        );
        m.startedOnce = true;
        m.handle = status.handle;
        m.state = 'starting';
        m.progress = undefined;
        m.endpoint = localEndpoint(status.port ?? spec.port, spec.healthPath, spec.metricsPath);
        this.opts.log.info(
          `instance ${m.id}: started (${runtime.kind} ${status.handle}, port ${spec.port})`,
        );
      } catch (err) {
        if (signal.aborted) return;
        m.gpuIndices = [];
        m.failures += 1;
        m.nextStartAt = this.now() + backoffDelay(m.failures, this.backoff);
        this.fail(m, `cannot start engine: ${message(err)}`);
      }
    });
  }

  private async probe(m: Managed, now: number): Promise<void> {
    const endpoint = m.endpoint;
    if (!endpoint) return;
    const health = await probeHealth(endpoint.healthUrl, endpoint.headers);
    if (m.removing || m.op) return;
    if (health.ok) {
      m.healthFailures = 0;
      if (m.state !== 'ready') {
        if (m.recipe?.prepare && !m.prepared && m.options) {
          if (now >= m.nextStartAt) this.prepare(m, endpoint);
          return;
        }
        this.markReady(m, now);
      } else if (m.readySince !== undefined && now - m.readySince >= RESTART_BACKOFF_RESET_MS) {
        m.failures = 0;
      }
      await this.scrape(m, endpoint, now);
      return;
    }
    m.healthFailures += 1;
    if (m.state === 'ready') {
      if (m.healthFailures >= UNHEALTHY_AFTER) {
        m.readySince = undefined;
        this.fail(m, `health check ${endpoint.healthUrl} failing: ${health.reason}`);
      }
    } else if (m.state === 'failed') {
      m.detail = `health check ${endpoint.healthUrl} failing: ${health.reason}`;
    } else if (!m.runtime) {
      // Nothing is starting an external engine: if it does not answer, it is down.
      this.fail(m, `health check ${endpoint.healthUrl} failing: ${health.reason}`);
    } else {
      m.detail = `waiting for ${endpoint.healthUrl}: ${health.reason}`;
    }
  }

  private prepare(m: Managed, endpoint: Endpoint): void {
    const recipe = m.recipe;
    const options = m.options;
    if (!recipe?.prepare || !options) return;
    m.detail = 'preparing';
    this.run(m, 'prepare', async (signal) => {
      try {
        await recipe.prepare?.(endpoint.baseUrl, options, this.context(m, 0), signal);
        m.prepared = true;
        this.markReady(m, this.now());
      } catch (err) {
        if (signal.aborted) return;
        this.fail(m, `preparing the engine failed: ${message(err)}`);
        m.failures += 1;
        // Try again after the back-off, on the next successful health check.
        m.nextStartAt = this.now() + backoffDelay(m.failures, this.backoff);
      }
    });
  }

  private markReady(m: Managed, now: number): void {
    m.state = 'ready';
    m.detail = undefined;
    m.readySince = now;
    this.opts.log.info(`instance ${m.id}: ready`);
  }

  private async scrape(m: Managed, endpoint: Endpoint, now: number): Promise<void> {
    if (!endpoint.metricsUrl || now - m.lastScrapeAt < this.metricsIntervalMs) return;
    m.lastScrapeAt = now;
    const result = await scrapeMetrics(endpoint.metricsUrl, m.prefixCounters, endpoint.headers);
    if (!result) return;
    // No prefix-cache lookups since the last scrape: the last rate still describes the cache.
    const lastRate = m.metrics?.prefix_cache_hit_rate;
    if (result.prefixCounters && result.metrics.prefix_cache_hit_rate === undefined) {
      if (lastRate !== undefined) result.metrics.prefix_cache_hit_rate = lastRate;
    }
    m.metrics = result.metrics;
    m.prefixCounters = result.prefixCounters;
    if (!result.recognized && !m.warnedUnknownMetrics) {
      m.warnedUnknownMetrics = true;
      this.opts.log.warn(
        `instance ${m.id}: ${endpoint.metricsUrl} has none of the engine metric names this ` +
          'daemon knows (an engine upgrade may have renamed them); the router is blind to its load',
      );
    }
  }
}
