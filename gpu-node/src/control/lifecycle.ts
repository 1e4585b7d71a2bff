// An engine instance's lifecycle, written once: its states (those of schema/contracts.ts),
// the transitions allowed between them, and a pure function that applies one event. The
// supervisor performs the I/O (start, inspect, probe, stop) and reports what happened as
// an event; everything it remembers about the engine's progress lives in `Lifecycle`.
//
// In short: pending -> starting (-> pulling -> starting) -> ready; a rejected spec, busy
// GPUs, a failed start or prepare, an exit or failing health checks lead to failed; failed
// -> starting again after the back-off (or -> ready when the engine answers again); any
// state -> stopped when the instance is no longer desired.
import type { InstanceState } from '../../../schema/contracts.ts';
import type { PullProgress } from '../runtimes/types.ts';
import {
  backoffDelay,
  RESTART_BACKOFF,
  RESTART_BACKOFF_RESET_MS,
  type Backoff,
} from './backoff.ts';

// The graph: from each state, the states one event may lead to (itself included where an
// event only updates the detail).
export const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  pending: ['starting', 'failed', 'stopped'],
  pulling: ['pulling', 'starting', 'failed', 'stopped'],
  starting: ['starting', 'pulling', 'ready', 'failed', 'stopped'],
  ready: ['ready', 'failed', 'stopped'],
  failed: ['failed', 'starting', 'ready', 'stopped'],
  stopped: [],
};

export interface Lifecycle {
  state: InstanceState;
  // Why the instance is not ready (reported to the gateway); undefined once ready.
  detail?: string;
  // Image pull progress while pulling.
  progress?: PullProgress;
  // Engine starts after the first one.
  restarts: number;
  // Consecutive crashes or failed starts; sets the back-off.
  failures: number;
  // No start (or prepare) before this time (ms since the epoch).
  retryAt: number;
  startedOnce: boolean;
  readySince?: number;
  // Consecutive failed health checks.
  healthFailures: number;
  // The recipe's work between healthy and ready (e.g. Ollama's model pull) is done.
  prepared: boolean;
  // Bad options or a missing runtime: nothing to retry until the desired instance changes.
  permanent: boolean;
}

export type LifecycleEvent =
  // The desired instance cannot run here (bad options, unknown recipe, no runtime).
  | { type: 'rejected'; detail: string }
  // An engine the supervisor did not start: an external one, or one adopted at start-up.
  | { type: 'attached'; startedBefore: boolean }
  // The GPUs it needs are held by other instances; tried again after a short wait.
  | { type: 'gpus_busy'; detail: string; now: number }
  | { type: 'start' }
  | { type: 'pull'; progress: PullProgress }
  | { type: 'started' }
  | { type: 'start_failed'; detail: string; now: number }
  // The engine exited or disappeared; `why` says how.
  | { type: 'exited'; why: string; now: number }
  // `prepareFirst`: the recipe has work to do before ready (see `needsPrepare`).
  | { type: 'healthy'; now: number; prepareFirst: boolean }
  // `external`: nothing is starting this engine, so not answering means down.
  | { type: 'unhealthy'; url: string; reason: string; external: boolean }
  | { type: 'preparing' }
  | { type: 'prepared'; now: number }
  | { type: 'prepare_failed'; detail: string; now: number }
  | { type: 'stop' };

// From which states each event applies; elsewhere it is refused (e.g. pull progress that
// arrives after the instance was stopped).
export const EVENT_FROM: Readonly<Record<LifecycleEvent['type'], readonly InstanceState[]>> = {
  rejected: ['pending'],
  attached: ['pending'],
  gpus_busy: ['pending', 'failed'],
  start: ['pending', 'failed'],
  pull: ['starting', 'pulling'],
  started: ['starting', 'pulling'],
  start_failed: ['starting', 'pulling'],
  exited: ['starting', 'ready', 'failed'],
  healthy: ['starting', 'ready', 'failed'],
  unhealthy: ['starting', 'ready', 'failed'],
  preparing: ['starting', 'failed'],
  prepared: ['starting', 'failed'],
  prepare_failed: ['starting', 'failed'],
  stop: ['pending', 'pulling', 'starting', 'ready', 'failed'],
};

// Consecutive failed health checks before a ready engine is reported failed.
export const UNHEALTHY_AFTER = 3;
// How long an instance waits for GPUs held by others before trying again.
export const GPU_WAIT_MS = 5000;

export interface Transition {
  lifecycle: Lifecycle;
  // False when the event does not apply in the current state; `lifecycle` is unchanged.
  applied: boolean;
  // A new failure reason, to be logged once (not on every retry).
  warning?: string;
}

export function initialLifecycle(): Lifecycle {
  return {
    state: 'pending',
    restarts: 0,
    failures: 0,
    retryAt: 0,
    startedOnce: false,
    healthFailures: 0,
    prepared: false,
    permanent: false,
  };
}

export function transition(
  lc: Lifecycle,
  event: LifecycleEvent,
  policy: Backoff = RESTART_BACKOFF,
): Transition {
  if (!EVENT_FROM[event.type].includes(lc.state)) return { lifecycle: lc, applied: false };
  const next = apply({ ...lc }, event, policy);
  if (!TRANSITIONS[lc.state].includes(next.state)) {
    // Unreachable while EVENT_FROM and apply() agree with the graph (see lifecycle.test.ts).
    throw new Error(`lifecycle: ${event.type} would move ${lc.state} to ${next.state}`);
  }
  const fresh = next.state === 'failed' && (lc.state !== 'failed' || lc.detail !== next.detail);
  return fresh && isFailure(event, lc.state)
    ? { lifecycle: next, applied: true, warning: next.detail ?? '' }
    : { lifecycle: next, applied: true };
}

// Whether the supervisor should run the recipe's prepare step now: the engine answers its
// health check, is not ready yet, and any back-off after a failed prepare has passed.
export function needsPrepare(lc: Lifecycle, recipeHasPrepare: boolean, now: number): boolean {
  return recipeHasPrepare && !lc.prepared && lc.state !== 'ready' && now >= lc.retryAt;
}

function isFailure(event: LifecycleEvent, from: InstanceState): boolean {
  switch (event.type) {
    case 'rejected':
    case 'gpus_busy':
    case 'start_failed':
    case 'exited':
    case 'prepare_failed':
      return true;
    case 'unhealthy':
      // An engine already failed only gets a fresher reason, not a new warning.
      return from !== 'failed';
    default:
      return false;
  }
}

function fail(lc: Lifecycle, detail: string): Lifecycle {
  lc.state = 'failed';
  lc.detail = detail;
  lc.permanent = false;
  return lc;
}

// A failed attempt: one more consecutive failure and a longer wait before the next.
function backOff(lc: Lifecycle, now: number, policy: Backoff): Lifecycle {
  lc.failures += 1;
  lc.retryAt = now + backoffDelay(lc.failures, policy);
  return lc;
}

function ready(lc: Lifecycle, now: number): Lifecycle {
  lc.state = 'ready';
  lc.detail = undefined;
  lc.readySince = now;
  return lc;
}

function apply(lc: Lifecycle, event: LifecycleEvent, policy: Backoff): Lifecycle {
  switch (event.type) {
    case 'rejected':
      fail(lc, event.detail);
      lc.permanent = true;
      return lc;
    case 'attached':
      lc.state = 'starting';
      lc.startedOnce = event.startedBefore;
      return lc;
    case 'gpus_busy':
      // Not a crash: no back-off, only a wait for another instance to free its GPUs.
      lc.retryAt = event.now + GPU_WAIT_MS;
      return fail(lc, event.detail);
    case 'start':
      if (lc.startedOnce) lc.restarts += 1;
      lc.state = 'starting';
      lc.detail = undefined;
      lc.healthFailures = 0;
      return lc;
    case 'pull':
      lc.state = 'pulling';
      lc.progress = event.progress;
      return lc;
    case 'started':
      lc.state = 'starting';
      lc.startedOnce = true;
      lc.progress = undefined;
      return lc;
    case 'start_failed':
      return fail(backOff(lc, event.now, policy), event.detail);
    case 'exited': {
      backOff(lc, event.now, policy);
      lc.readySince = undefined;
      lc.prepared = false;
      const delay = Math.round(backoffDelay(lc.failures, policy) / 1000);
      return fail(lc, `${event.why}; restarting in ${delay}s`);
    }
    case 'healthy':
      lc.healthFailures = 0;
      if (lc.state === 'ready') {
        // Long enough ready: earlier crashes no longer lengthen the next back-off.
        if (lc.readySince !== undefined && event.now - lc.readySince >= RESTART_BACKOFF_RESET_MS)
          lc.failures = 0;
        return lc;
      }
      return event.prepareFirst && !lc.prepared ? lc : ready(lc, event.now);
    case 'unhealthy': {
      lc.healthFailures += 1;
      const failing = `health check ${event.url} failing: ${event.reason}`;
      if (lc.state === 'ready') {
        if (lc.healthFailures < UNHEALTHY_AFTER) return lc;
        lc.readySince = undefined;
        return fail(lc, failing);
      }
      if (lc.state === 'failed') {
        lc.detail = failing;
        return lc;
      }
      if (event.external) return fail(lc, failing);
      lc.detail = `waiting for ${event.url}: ${event.reason}`;
      return lc;
    }
    case 'preparing':
      lc.detail = 'preparing';
      return lc;
    case 'prepared':
      lc.prepared = true;
      return ready(lc, event.now);
    case 'prepare_failed':
      // Tried again after the back-off, on the next successful health check.
      return backOff(fail(lc, event.detail), event.now, policy);
    case 'stop':
      lc.state = 'stopped';
      lc.progress = undefined;
      return lc;
  }
}
