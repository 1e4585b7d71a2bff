// One engine instance on this node: what the gateway asked for, how it runs (recipe,
// runtime, engine handle, endpoint, GPUs), its lifecycle (lifecycle.ts), its load and
// metrics, and the one operation (start, prepare, stop) that may run on it at a time.
import type { DesiredInstance, InstanceState, InstanceStatus } from '../../../schema/contracts.ts';
import type { Logger } from '../log.ts';
import type { EngineEndpoint, Recipe, RecipeContext } from '../recipes/types.ts';
import type { Runtime } from '../runtimes/types.ts';
import type { Backoff } from './backoff.ts';
import { EngineMetricsReader } from './engine-metrics.ts';
import { initialLifecycle, transition, type Lifecycle, type LifecycleEvent } from './lifecycle.ts';
import { ProgressWatch } from './watchdog.ts';

// Seconds between SIGTERM and SIGKILL when the recipe does not say.
const DEFAULT_STOP_GRACE_S = 10;

export interface InstanceEnv {
  nodeId: string;
  modelCache: string;
  log: Logger;
  backoff: Backoff;
  metricsIntervalMs: number;
  // Time without output, with requests in flight, before the instance counts as hung
  // (watchdog.ts); 0: never.
  hangTimeoutMs: number;
  now: () => number;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class EngineInstance {
  model: string;
  // Undefined for an engine adopted at start-up before the first heartbeat answer.
  desired: DesiredInstance | undefined;
  // specHash() of what the engine runs.
  key = '';
  recipe: Recipe | undefined;
  options: Record<string, unknown> | undefined;
  // Undefined for an engine the daemon does not start (recipe runtime 'none').
  runtime: Runtime | undefined;
  lifecycle: Lifecycle = initialLifecycle();
  gpuIndices: number[] = [];
  endpoint: EngineEndpoint | undefined;
  // The runtime's handle (pid, container id) while an engine runs.
  handle: string | undefined;
  readonly metrics: EngineMetricsReader;
  // Requests in flight and the time of the engine's last output (the hung-engine watchdog).
  readonly watch: ProgressWatch;
  #reportedHung = false;
  // A check (tick) of this instance is under way; checks never overlap.
  checking = false;
  private op: Promise<void> | undefined;
  private abort: AbortController | undefined;

  constructor(
    readonly id: string,
    readonly deploymentId: string,
    model: string,
    private readonly env: InstanceEnv,
  ) {
    this.model = model;
    this.watch = new ProgressWatch(env.hangTimeoutMs, env.now);
    this.metrics = new EngineMetricsReader(env.metricsIntervalMs, (url) =>
      env.log.warn(
        `instance ${id}: ${url} has none of the engine metric names this daemon knows ` +
          '(an engine upgrade may have renamed them); the router is blind to its load',
      ),
    );
  }

  get state(): InstanceState {
    return this.lifecycle.state;
  }

  get inFlight(): number {
    return this.watch.inFlight;
  }

  // Why a ready instance is out of rotation although its engine answers health checks: it
  // hangs (watchdog.ts). Undefined otherwise. A change is logged once.
  hung(): string | undefined {
    const silent = this.state === 'ready' ? this.watch.hungFor(this.env.now()) : undefined;
    const detail =
      silent === undefined
        ? undefined
        : `engine hung: ${this.watch.inFlight} request(s) in flight and no output for ${Math.round(silent / 1000)} s`;
    if ((detail !== undefined) !== this.#reportedHung) {
      this.#reportedHung = detail !== undefined;
      if (detail) this.env.log.warn(`instance ${this.id}: ${detail}; out of rotation`);
      else this.env.log.info(`instance ${this.id}: no longer hung; back in rotation`);
    }
    return detail;
  }

  // The state as the gateway and the data plane see it: a hung engine counts as failed.
  reported(): { state: InstanceState; detail?: string } {
    const hung = this.hung();
    if (hung !== undefined) return { state: 'failed', detail: hung };
    return this.lifecycle.detail
      ? { state: this.state, detail: this.lifecycle.detail }
      : { state: this.state };
  }
  // No longer desired: its engine is being (or has been) stopped; nothing else happens to it.
  isStopped(): boolean {
    return this.lifecycle.state === 'stopped';
  }

  // Applies one lifecycle event; a new failure reason is logged once. False when the event
  // does not apply in the current state (e.g. pull progress after the instance stopped).
  apply(event: LifecycleEvent): boolean {
    const before = this.lifecycle.state;
    const result = transition(this.lifecycle, event, this.env.backoff);
    this.lifecycle = result.lifecycle;
    if (result.warning !== undefined) this.env.log.warn(`instance ${this.id}: ${result.warning}`);
    if (before !== 'ready' && this.state === 'ready')
      this.env.log.info(`instance ${this.id}: ready`);
    return result.applied;
  }

  // Whether an operation (or the wait for a previous engine under this id) is running.
  get busy(): boolean {
    return this.op !== undefined;
  }

  // Starts an operation; the caller checks `busy` first. Its errors are logged, except
  // after an abort or once the instance is stopped.
  run(what: string, work: (signal: AbortSignal) => Promise<void>): void {
    const abort = new AbortController();
    this.abort = abort;
    const op: Promise<void> = work(abort.signal)
      .catch((err: unknown) => {
        if (abort.signal.aborted || this.isStopped()) return;
        this.env.log.warn(`instance ${this.id}: ${what} failed: ${errorMessage(err)}`);
      })
      .finally(() => {
        if (this.abort === abort) this.abort = undefined;
        if (this.op === op) this.op = undefined;
      });
    this.op = op;
  }

  // An earlier engine under the same id must be gone before this one starts.
  waitFor(previous: Promise<void>): void {
    const op: Promise<void> = previous
      .then(
        () => undefined,
        () => undefined,
      )
      .then(() => {
        if (this.op === op) this.op = undefined;
      });
    this.op = op;
  }

  // The last operation: aborts the running one and runs `work` once it has settled. The
  // instance takes no operation after it; settled() resolves when it is done.
  finish(work: () => Promise<void>): Promise<void> {
    this.abort?.abort();
    const previous = this.op ?? Promise.resolve();
    const op = previous.catch(() => undefined).then(work);
    this.op = op;
    return op;
  }

  abortOperation(): void {
    this.abort?.abort();
  }

  settled(): Promise<void> {
    return (this.op ?? Promise.resolve()).catch(() => undefined);
  }

  // Counts one proxied request in flight; the returned function ends it (once).
  begin(): () => void {
    this.watch.begin();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.watch.end();
    };
  }

  // The engine sent some output for a proxied request.
  progress(): void {
    this.watch.progress();
  }

  context(port: number): RecipeContext {
    return {
      nodeId: this.env.nodeId,
      instanceId: this.id,
      deploymentId: this.deploymentId,
      model: this.model,
      gpuIndices: this.gpuIndices,
      port,
      modelCache: this.env.modelCache,
    };
  }

  stopGraceSeconds(): number {
    if (!this.recipe || !this.options) return DEFAULT_STOP_GRACE_S;
    try {
      return (
        this.recipe.spec(this.options, this.context(0)).stopGraceSeconds ?? DEFAULT_STOP_GRACE_S
      );
    } catch {
      return DEFAULT_STOP_GRACE_S;
    }
  }

  status(): InstanceStatus {
    const lc = this.lifecycle;
    const reported = this.reported();
    const status: InstanceStatus = {
      instance_id: this.id,
      deployment_id: this.deploymentId,
      state: reported.state,
      gpu_indices: [...this.gpuIndices],
      in_flight: this.inFlight,
      restarts: lc.restarts,
    };
    if (reported.detail) status.detail = reported.detail.slice(0, 2000);
    if (lc.progress && lc.state === 'pulling') {
      status.progress = { bytes: lc.progress.bytes };
      if (lc.progress.totalBytes !== undefined)
        status.progress.total_bytes = lc.progress.totalBytes;
      if (lc.progress.percent !== undefined) {
        status.progress.percent = Math.min(100, Math.max(0, lc.progress.percent));
      }
    }
    const metrics = this.metrics.latest;
    if (metrics) status.metrics = metrics;
    return status;
  }
}
