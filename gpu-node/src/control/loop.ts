// The control loop: a heartbeat every interval carrying GPUs, instance states, load and the
// kid of the data-plane key the node holds; each answer's desired set is handed to the
// supervisor and its JWKS and data-plane key to the verifier. While the gateway is unreachable the node keeps serving, logs the outage once,
// and retries with back-off; the first answer after it catches the node up.
import type { DataPlaneKey, GpuInfo, HeartbeatRequest, Jwks } from '../../../schema/contracts.ts';
import type { GpuQuery } from '../gpus/nvidia-smi.ts';
import { backoffDelay } from './backoff.ts';
import { GatewayError, heartbeat } from './gateway-client.ts';
import type { Logger } from '../log.ts';
import type { Supervisor } from './supervisor.ts';

// A node counts as registered while its last good heartbeat is this many intervals old.
const REGISTERED_FOR_INTERVALS = 3;
const MAX_RETRY_MS = 30_000;
const GPU_QUERY_BUDGET_MS = 1000;

export interface ControlLoopOptions {
  gatewayUrl: string;
  nodeSecret: string;
  daemonVersion: string;
  intervalS: number;
  supervisor: Supervisor;
  queryGpus: () => Promise<GpuQuery>;
  onJwks: (jwks: Jwks) => void;
  // The node's data-plane key from an answer that carries one (older gateways send none).
  onDataPlaneKey?: (key: DataPlaneKey) => void;
  // The kid of the data-plane key the node holds, reported with every heartbeat.
  dataPlaneKeyId?: () => string | undefined;
  log: Logger;
  now?: () => number;
}

export class ControlLoop {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private intervalS: number;
  private consecutiveFailures = 0;
  private lastSuccessAt: number | undefined;
  private gpuError: string | undefined;
  private current: Promise<void> | undefined;
  private refreshing: Promise<void> | undefined;
  gpus: GpuInfo[] = [];
  failuresTotal = 0;

  constructor(private readonly opts: ControlLoopOptions) {
    this.intervalS = opts.intervalS;
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.current;
  }

  registered(): boolean {
    return (
      this.lastSuccessAt !== undefined &&
      this.now() - this.lastSuccessAt <= REGISTERED_FOR_INTERVALS * this.intervalS * 1000
    );
  }

  // One nvidia-smi run at a time; a slow one must not delay heartbeats (see beat()).
  refreshGpus(): Promise<void> {
    this.refreshing ??= this.queryGpus().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async queryGpus(): Promise<void> {
    const result = await this.opts.queryGpus();
    if (result.error && result.error !== this.gpuError) this.opts.log.warn(result.error);
    this.gpuError = result.error;
    // A failed query keeps the last good inventory: one nvidia-smi hiccup must not free
    // every GPU for reassignment.
    if (!result.error || result.gpus.length) this.gpus = result.gpus;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.current = this.beat().finally(() => {
        this.current = undefined;
      });
    }, delayMs);
  }

  private async beat(): Promise<void> {
    // Fresh GPU figures when nvidia-smi answers quickly, the last ones otherwise.
    let budget: NodeJS.Timeout | undefined;
    await Promise.race([
      this.refreshGpus(),
      new Promise<void>((resolve) => {
        budget = setTimeout(resolve, GPU_QUERY_BUDGET_MS);
      }),
    ]);
    clearTimeout(budget);
    const { supervisor } = this.opts;
    const totals = supervisor.totals();
    const body: HeartbeatRequest = {
      daemon_version: this.opts.daemonVersion,
      gpus: this.gpus,
      free_gpu_indices: supervisor.freeGpus(),
      instances: supervisor.statuses(),
      in_flight: totals.inFlight,
      queued: totals.queued,
    };
    const keyId = this.opts.dataPlaneKeyId?.();
    if (keyId !== undefined) body.data_plane_key_id = keyId;
    try {
      const answer = await heartbeat(
        this.opts.gatewayUrl,
        this.opts.nodeSecret,
        body,
        Math.max(5000, this.intervalS * 2000),
      );
      if (this.consecutiveFailures > 0) {
        this.opts.log.info(
          `gateway reachable again after ${this.consecutiveFailures} failed heartbeat(s)`,
        );
      }
      this.consecutiveFailures = 0;
      this.lastSuccessAt = this.now();
      this.intervalS = answer.heartbeat_interval_s;
      this.opts.onJwks(answer.jwks);
      if (answer.data_plane_key) this.opts.onDataPlaneKey?.(answer.data_plane_key);
      supervisor.reconcile(answer.desired);
      this.schedule(this.intervalS * 1000);
    } catch (err) {
      this.failuresTotal += 1;
      this.consecutiveFailures += 1;
      if (this.consecutiveFailures === 1) {
        this.opts.log.warn(`${describe(err)}; still serving, retrying with back-off`);
      }
      const retryMs = backoffDelay(this.consecutiveFailures, {
        baseMs: this.intervalS * 1000,
        maxMs: Math.max(MAX_RETRY_MS, this.intervalS * 1000),
      });
      this.schedule(retryMs);
    }
  }
}

function describe(err: unknown): string {
  if (err instanceof GatewayError) {
    switch (err.code) {
      case 'unreachable':
        return `heartbeat failed, ${err.message}`;
      case 'unauthorized':
        return (
          `the gateway refused this node's credentials (${err.message}); if the node was ` +
          'removed from the gateway, register it again'
        );
      case 'rejected':
        return `the gateway rejected the heartbeat (HTTP ${err.status ?? '?'}: ${err.message})`;
      case 'bad_response':
        return `heartbeat failed: ${err.message}`;
    }
  }
  return `heartbeat failed: ${err instanceof Error ? err.message : String(err)}`;
}
