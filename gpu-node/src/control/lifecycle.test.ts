// The instance lifecycle as a pure function: every event against every state, and the
// paths an engine takes (start, pull, ready, crash and back-off, failing health, prepare).
import { describe, expect, it } from 'vitest';
import { INSTANCE_STATES, type InstanceState } from '../../../schema/contracts.ts';
import {
  EVENT_FROM,
  initialLifecycle,
  needsPrepare,
  transition,
  TRANSITIONS,
  UNHEALTHY_AFTER,
  type Lifecycle,
  type LifecycleEvent,
} from './lifecycle.ts';

const T0 = 1_000_000;

// Events of every type, in the variants that lead to different states.
const EVENTS: LifecycleEvent[] = [
  { type: 'rejected', detail: 'bad options' },
  { type: 'attached', startedBefore: true },
  { type: 'attached', startedBefore: false },
  { type: 'gpus_busy', detail: 'needs 1 GPU(s)', now: T0 },
  { type: 'start' },
  { type: 'pull', progress: { bytes: 10, totalBytes: 100, percent: 10 } },
  { type: 'started' },
  { type: 'start_failed', detail: 'cannot start engine: no image', now: T0 },
  { type: 'exited', why: 'engine exited with code 1', now: T0 },
  { type: 'healthy', now: T0, prepareFirst: false },
  { type: 'healthy', now: T0, prepareFirst: true },
  { type: 'unhealthy', url: 'http://e/health', reason: 'HTTP 503', external: false },
  { type: 'unhealthy', url: 'http://e/health', reason: 'HTTP 503', external: true },
  { type: 'preparing' },
  { type: 'prepared', now: T0 },
  { type: 'prepare_failed', detail: 'preparing the engine failed: pull', now: T0 },
  { type: 'stop' },
];

function inState(state: InstanceState, extra: Partial<Lifecycle> = {}): Lifecycle {
  return { ...initialLifecycle(), state, ...extra };
}

// Applies events in turn, as the supervisor would.
function run(lc: Lifecycle, ...events: LifecycleEvent[]): Lifecycle {
  return events.reduce((acc, e) => transition(acc, e).lifecycle, lc);
}

describe('lifecycle graph', () => {
  it('names every state of the contract, and stopped is final', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...INSTANCE_STATES].sort());
    expect(TRANSITIONS.stopped).toEqual([]);
  });

  it('moves only along the graph, and refuses an event where it does not apply', () => {
    for (const state of INSTANCE_STATES) {
      // Also from the edge cases of the counters: a ready engine at its last good check.
      const starts = [inState(state), inState(state, { healthFailures: UNHEALTHY_AFTER - 1 })];
      for (const lc of starts) {
        for (const event of EVENTS) {
          const result = transition(lc, event);
          if (EVENT_FROM[event.type].includes(state)) {
            expect(result.applied).toBe(true);
            expect(TRANSITIONS[state]).toContain(result.lifecycle.state);
          } else {
            expect(result).toEqual({ lifecycle: lc, applied: false });
          }
        }
      }
    }
  });

  it('never changes the lifecycle it is given', () => {
    const lc = inState('ready', { readySince: T0 });
    const copy = structuredClone(lc);
    for (const event of EVENTS) transition(lc, event);
    expect(lc).toEqual(copy);
  });
});

describe('lifecycle paths', () => {
  it('pending -> starting -> pulling -> starting -> ready', () => {
    let lc = run(initialLifecycle(), { type: 'start' });
    expect(lc.state).toBe('starting');
    lc = run(lc, { type: 'pull', progress: { bytes: 5 } });
    expect(lc).toMatchObject({ state: 'pulling', progress: { bytes: 5 } });
    lc = run(lc, { type: 'started' });
    expect(lc).toMatchObject({ state: 'starting', startedOnce: true });
    expect(lc.progress).toBeUndefined();
    lc = run(lc, {
      type: 'unhealthy',
      url: 'http://e/health',
      reason: 'HTTP 503',
      external: false,
    });
    expect(lc).toMatchObject({
      state: 'starting',
      detail: 'waiting for http://e/health: HTTP 503',
    });
    lc = run(lc, { type: 'healthy', now: T0, prepareFirst: false });
    expect(lc).toMatchObject({ state: 'ready', readySince: T0, restarts: 0, healthFailures: 0 });
    expect(lc.detail).toBeUndefined();
  });

  it('backs off after each crash, counts restarts, and forgets crashes after a minute ready', () => {
    const ready = run(
      initialLifecycle(),
      { type: 'start' },
      { type: 'started' },
      { type: 'healthy', now: T0, prepareFirst: false },
    );
    const first = transition(ready, {
      type: 'exited',
      why: 'engine exited with code 137',
      now: T0,
    });
    expect(first.lifecycle).toMatchObject({
      state: 'failed',
      detail: 'engine exited with code 137; restarting in 1s',
      failures: 1,
      retryAt: T0 + 1000,
    });
    expect(first.warning).toBe('engine exited with code 137; restarting in 1s');
    expect(first.lifecycle.readySince).toBeUndefined();

    let lc = run(first.lifecycle, { type: 'start' }, { type: 'started' });
    expect(lc.restarts).toBe(1);
    lc = run(lc, { type: 'exited', why: 'engine is gone', now: T0 + 2000 });
    expect(lc).toMatchObject({ failures: 2, retryAt: T0 + 4000 });
    expect(lc.detail).toBe('engine is gone; restarting in 2s');

    lc = run(
      lc,
      { type: 'start' },
      { type: 'started' },
      { type: 'healthy', now: T0 + 5000, prepareFirst: false },
    );
    expect(lc).toMatchObject({ state: 'ready', restarts: 2, failures: 2 });
    lc = run(lc, { type: 'healthy', now: T0 + 5000 + 59_999, prepareFirst: false });
    expect(lc.failures).toBe(2);
    lc = run(lc, { type: 'healthy', now: T0 + 5000 + 60_000, prepareFirst: false });
    expect(lc.failures).toBe(0);
  });

  it('fails a ready engine after consecutive failed health checks, warning once', () => {
    const unhealthy: LifecycleEvent = {
      type: 'unhealthy',
      url: 'http://e/health',
      reason: 'connection refused (ECONNREFUSED)',
      external: false,
    };
    let lc = inState('ready', { readySince: T0 });
    for (let i = 1; i < UNHEALTHY_AFTER; i++) {
      const step = transition(lc, unhealthy);
      expect(step.lifecycle).toMatchObject({ state: 'ready', healthFailures: i });
      expect(step.warning).toBeUndefined();
      lc = step.lifecycle;
    }
    const failed = transition(lc, unhealthy);
    expect(failed.lifecycle.state).toBe('failed');
    expect(failed.warning).toBe(
      'health check http://e/health failing: connection refused (ECONNREFUSED)',
    );
    // Still failing with another reason: a fresher detail, no second warning.
    const again = transition(failed.lifecycle, { ...unhealthy, reason: 'HTTP 500' });
    expect(again.lifecycle.detail).toBe('health check http://e/health failing: HTTP 500');
    expect(again.warning).toBeUndefined();
    // It answers again: ready, without a restart.
    const back = run(again.lifecycle, { type: 'healthy', now: T0 + 1, prepareFirst: false });
    expect(back).toMatchObject({ state: 'ready', restarts: 0 });
  });

  it('fails an external engine at once when it does not answer', () => {
    const lc = run(initialLifecycle(), { type: 'attached', startedBefore: false });
    const result = transition(lc, {
      type: 'unhealthy',
      url: 'http://ext/health',
      reason: 'timed out',
      external: true,
    });
    expect(result.lifecycle).toMatchObject({
      state: 'failed',
      detail: 'health check http://ext/health failing: timed out',
    });
    expect(result.warning).toBeDefined();
  });

  it('waits for busy GPUs without backing off, and warns once per reason', () => {
    const busy: LifecycleEvent = { type: 'gpus_busy', detail: 'needs 2 GPU(s)', now: T0 };
    const first = transition(initialLifecycle(), busy);
    expect(first.lifecycle).toMatchObject({ state: 'failed', failures: 0, retryAt: T0 + 5000 });
    expect(first.warning).toBe('needs 2 GPU(s)');
    const second = transition(first.lifecycle, { ...busy, now: T0 + 5000 });
    expect(second.lifecycle.retryAt).toBe(T0 + 10_000);
    expect(second.warning).toBeUndefined();
  });

  it('marks a rejected spec permanent; a start failure is not', () => {
    expect(run(initialLifecycle(), { type: 'rejected', detail: 'x' })).toMatchObject({
      state: 'failed',
      permanent: true,
    });
    const failed = run(
      initialLifecycle(),
      { type: 'start' },
      { type: 'start_failed', detail: 'cannot start engine: boom', now: T0 },
    );
    expect(failed).toMatchObject({ state: 'failed', permanent: false, failures: 1 });
    expect(failed.retryAt).toBe(T0 + 1000);
  });

  it('runs the prepare step between healthy and ready, and retries it after a back-off', () => {
    let lc = run(initialLifecycle(), { type: 'start' }, { type: 'started' });
    lc = run(lc, { type: 'healthy', now: T0, prepareFirst: true });
    expect(lc.state).toBe('starting');
    expect(needsPrepare(lc, true, T0)).toBe(true);
    expect(needsPrepare(lc, false, T0)).toBe(false);
    lc = run(lc, { type: 'preparing' });
    expect(lc.detail).toBe('preparing');
    lc = run(lc, { type: 'prepare_failed', detail: 'preparing the engine failed: 500', now: T0 });
    expect(lc).toMatchObject({ state: 'failed', failures: 1, retryAt: T0 + 1000 });
    lc = run(lc, { type: 'healthy', now: T0 + 500, prepareFirst: true });
    expect(lc.state).toBe('failed');
    expect(needsPrepare(lc, true, T0 + 500)).toBe(false);
    expect(needsPrepare(lc, true, T0 + 1000)).toBe(true);
    lc = run(lc, { type: 'prepared', now: T0 + 1000 });
    expect(lc).toMatchObject({ state: 'ready', prepared: true, readySince: T0 + 1000 });
    expect(needsPrepare(lc, true, T0 + 2000)).toBe(false);
    // A crash means a new engine, which must be prepared again.
    lc = run(lc, { type: 'exited', why: 'engine exited', now: T0 + 3000 });
    expect(lc.prepared).toBe(false);
  });

  it('adopts a running engine as started before, so its next start counts as a restart', () => {
    const adopted = run(initialLifecycle(), { type: 'attached', startedBefore: true });
    expect(adopted).toMatchObject({ state: 'starting', startedOnce: true });
    const restarted = run(
      adopted,
      { type: 'exited', why: 'engine exited', now: T0 },
      { type: 'start' },
    );
    expect(restarted.restarts).toBe(1);
  });

  it('stops from any state, and nothing moves a stopped instance', () => {
    for (const state of INSTANCE_STATES.filter((s) => s !== 'stopped')) {
      expect(run(inState(state), { type: 'stop' }).state).toBe('stopped');
    }
    const stopped = run(inState('pulling', { progress: { bytes: 1 } }), { type: 'stop' });
    expect(stopped.progress).toBeUndefined();
    for (const event of EVENTS) expect(transition(stopped, event).applied).toBe(false);
  });
});
