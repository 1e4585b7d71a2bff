// The supervisor of the node's engine instances: the map of instances, GPU assignment,
// and reconcile() toward the desired set of each heartbeat answer. tick() (about once a
// second) checks every instance (engine-run.ts: start, exits, health, metrics); each
// instance's lifecycle is lifecycle.ts.
import type { DesiredInstance, InstanceState, InstanceStatus } from '../../../schema/contracts.ts';
import type { Logger } from '../log.ts';
import type { EngineEndpoint, Recipe } from '../recipes/types.ts';
import type { RuntimeSet } from '../runtimes/index.ts';
import type { Runtime } from '../runtimes/types.ts';
import { adoptEngines, completeAdoption } from './adopt.ts';
import { RESTART_BACKOFF, type Backoff } from './backoff.ts';
import { freeLocalPort } from './endpoint.ts';
import { checkInstance, type CheckDeps } from './engine-run.ts';
import { assignGpus } from './gpu-assign.ts';
import { EngineInstance, errorMessage, type InstanceEnv } from './instance.ts';
import { planInstance } from './plan.ts';
import { specHash } from './spec-hash.ts';
import { DEFAULT_HANG_TIMEOUT_MS } from './watchdog.ts';

// What the proxy needs to send one request to an instance.
export interface RouteTarget {
  state: InstanceState;
  detail?: string;
  endpoint?: EngineEndpoint;
  // Counts the request in flight; call the returned function once when it ends.
  begin(): () => void;
  // The engine sent some output (the hung-engine watchdog's signal).
  progress(): void;
}

export interface SupervisorOptions {
  nodeId: string;
  runtimes: RuntimeSet;
  recipes: Record<string, Recipe>;
  // GPU indices of the node's inventory (updated by the control loop).
  gpuIndices: () => number[];
  modelCache: string;
  log: Logger;
  // Default: a free port on 127.0.0.1.
  allocatePort?: () => Promise<number>;
  now?: () => number;
  // Default: RESTART_BACKOFF (1 s doubling to 60 s).
  backoff?: Backoff;
  // How often a ready engine's metrics are read; default 2000 ms.
  metricsIntervalMs?: number;
  // Time without output, with requests in flight, before an instance counts as hung
  // (watchdog.ts); default DEFAULT_HANG_TIMEOUT_MS, 0 turns the watchdog off.
  hangTimeoutMs?: number;
}

export class Supervisor {
  private readonly instances = new Map<string, EngineInstance>();
  // Engines being stopped; they still hold their GPUs until they are gone.
  private readonly stopping = new Set<EngineInstance>();
  private readonly now: () => number;
  private readonly env: InstanceEnv;
  private readonly checkDeps: CheckDeps;

  constructor(private readonly opts: SupervisorOptions) {
    this.now = opts.now ?? Date.now;
    this.env = {
      nodeId: opts.nodeId,
      modelCache: opts.modelCache,
      log: opts.log,
      backoff: opts.backoff ?? RESTART_BACKOFF,
      metricsIntervalMs: opts.metricsIntervalMs ?? 2000,
      hangTimeoutMs: opts.hangTimeoutMs ?? DEFAULT_HANG_TIMEOUT_MS,
      now: this.now,
    };
    this.checkDeps = {
      assignGpus: (count) => assignGpus(this.opts.gpuIndices(), this.takenGpus(), count),
      allocatePort: opts.allocatePort ?? freeLocalPort,
      now: this.now,
      log: opts.log,
      onExited: (inst) => {
        // An adopted engine nobody asked for is dropped; a desired one starts again later
        // and gets its GPUs again then.
        if (inst.desired) inst.gpuIndices = [];
        else this.instances.delete(inst.id);
      },
    };
  }

  // Takes over engines a runtime still runs for this node (adopt.ts).
  adopt(): Promise<void> {
    return adoptEngines({
      runtimes: this.opts.runtimes,
      nodeId: this.opts.nodeId,
      env: this.env,
      known: (id) => this.instances.has(id),
      add: (inst) => this.instances.set(inst.id, inst),
      discard: (runtime, handle) => this.discard(runtime, handle),
    });
  }

  reconcile(desired: DesiredInstance[]): void {
    const wanted = new Map(desired.map((d) => [d.instance_id, d]));
    for (const [id, inst] of this.instances) {
      const d = wanted.get(id);
      if (!d || specHash(d) !== inst.key) this.remove(inst);
    }
    for (const d of desired) {
      const existing = this.instances.get(d.instance_id);
      if (existing) {
        if (!existing.desired) {
          completeAdoption(existing, d, this.opts.recipes, this.opts.gpuIndices().length);
        }
        existing.desired = d;
        continue;
      }
      const replaced = [...this.stopping].find((s) => s.id === d.instance_id);
      this.instances.set(d.instance_id, this.create(d, replaced));
    }
  }

  async tick(): Promise<void> {
    const now = this.now();
    await Promise.all(
      [...this.instances.values()].map((inst) => checkInstance(inst, now, this.checkDeps)),
    );
  }

  statuses(): InstanceStatus[] {
    return [...this.instances.values()].map((inst) => inst.status());
  }

  // For /metrics: the instances with their model names.
  describe(): { id: string; deploymentId: string; model: string; status: InstanceStatus }[] {
    return [...this.instances.values()].map((inst) => ({
      id: inst.id,
      deploymentId: inst.deploymentId,
      model: inst.model,
      status: inst.status(),
    }));
  }

  // Whether every instance the gateway wants is ready (for /readyz).
  notReady(): { instance_id: string; state: InstanceState; detail?: string }[] {
    return [...this.instances.values()]
      .map((inst) => ({ inst, reported: inst.reported() }))
      .filter(({ inst, reported }) => inst.desired && reported.state !== 'ready')
      .map(({ inst, reported }) => ({ instance_id: inst.id, ...reported }));
  }

  takenGpus(): Set<number> {
    const taken = new Set<number>();
    for (const inst of [...this.instances.values(), ...this.stopping]) {
      for (const i of inst.gpuIndices) taken.add(i);
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
    for (const inst of this.instances.values()) {
      inFlight += inst.inFlight;
      queued += inst.metrics.latest?.requests_waiting ?? 0;
    }
    return { inFlight, queued };
  }

  route(instanceId: string): RouteTarget | undefined {
    const inst = this.instances.get(instanceId);
    if (!inst) return undefined;
    const reported = inst.reported();
    const target: RouteTarget = {
      state: reported.state,
      begin: () => inst.begin(),
      progress: () => inst.progress(),
    };
    if (reported.detail) target.detail = reported.detail;
    if (inst.endpoint) target.endpoint = inst.endpoint;
    return target;
  }

  async logs(instanceId: string, tail: number): Promise<string[] | undefined> {
    const inst = this.instances.get(instanceId);
    if (!inst) return undefined;
    if (!inst.runtime || !inst.handle) return [];
    return inst.runtime.logs(inst.handle, tail);
  }

  // The instance's tail, then its new lines until the engine stops or `signal` aborts;
  // undefined when this node has no such instance.
  followLogs(
    instanceId: string,
    tail: number,
    onLine: (line: string) => void,
    signal: AbortSignal,
  ): Promise<void> | undefined {
    const inst = this.instances.get(instanceId);
    if (!inst) return undefined;
    if (!inst.runtime || !inst.handle) return Promise.resolve();
    return inst.runtime.followLogs(inst.handle, tail, onLine, signal);
  }

  // Stops engines on daemon shutdown. Docker containers are left running on purpose: the
  // next daemon adopts them, so a daemon upgrade does not reload model weights. Processes
  // are children of the daemon and cannot be adopted, so they are stopped.
  async shutdown(): Promise<void> {
    const all = [...this.instances.values()];
    for (const inst of all) inst.abortOperation();
    await Promise.all(
      all.map(async (inst) => {
        await inst.settled();
        if (inst.runtime?.kind === 'process' && inst.handle) {
          await inst.runtime.stop(inst.handle, inst.stopGraceSeconds()).catch(() => undefined);
          await inst.runtime.remove(inst.handle).catch(() => undefined);
        }
      }),
    );
    await Promise.all([...this.stopping].map((inst) => inst.settled()));
  }

  // `replaced`: the engine this instance replaces, still stopping under the same id.
  private create(d: DesiredInstance, replaced?: EngineInstance): EngineInstance {
    const inst = new EngineInstance(d.instance_id, d.deployment_id, d.model, this.env);
    inst.desired = d;
    inst.key = specHash(d);
    if (replaced) inst.waitFor(replaced.settled());
    const plan = planInstance(d, {
      recipes: this.opts.recipes,
      runtimes: this.opts.runtimes,
      gpuCount: this.opts.gpuIndices().length,
      context: inst.context(0),
    });
    if (!plan.ok) {
      inst.apply({ type: 'rejected', detail: plan.detail });
      return inst;
    }
    inst.recipe = plan.recipe;
    inst.options = plan.options;
    if ('runtime' in plan) {
      inst.runtime = plan.runtime;
    } else {
      inst.endpoint = plan.upstream;
      inst.apply({ type: 'attached', startedBefore: false });
    }
    this.opts.log.info(`instance ${inst.id}: ${d.recipe} serving '${d.model}'`);
    return inst;
  }

  private remove(inst: EngineInstance): void {
    this.instances.delete(inst.id);
    if (inst.isStopped()) return;
    inst.apply({ type: 'stop' });
    this.stopping.add(inst);
    this.opts.log.info(`instance ${inst.id}: no longer desired, stopping`);
    void inst.finish(async () => {
      try {
        const { runtime, handle } = inst;
        if (runtime && handle) await this.discard(runtime, handle, inst.stopGraceSeconds());
        inst.handle = undefined;
      } finally {
        inst.gpuIndices = [];
        this.stopping.delete(inst);
      }
    });
  }

  private async discard(runtime: Runtime, handle: string, grace = 10): Promise<void> {
    try {
      await runtime.stop(handle, grace);
      await runtime.remove(handle);
    } catch (err) {
      this.opts.log.warn(`cannot stop ${runtime.kind} engine ${handle}: ${errorMessage(err)}`);
    }
  }
}
