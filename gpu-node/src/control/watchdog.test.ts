import { describe, expect, it } from 'vitest';
import { ProgressWatch } from './watchdog.ts';

describe('ProgressWatch', () => {
  it('counts an instance hung once requests are in flight with no output for the timeout', () => {
    let now = 1000;
    const watch = new ProgressWatch(500, () => now);
    now = 5000;
    // Idle for long: nothing in flight is never hung.
    expect(watch.hungFor(now)).toBeUndefined();
    watch.begin();
    now = 5499;
    expect(watch.hungFor(now)).toBeUndefined();
    now = 5500;
    expect(watch.hungFor(now)).toBe(500);
    // Output from the engine: alive again.
    watch.progress();
    expect(watch.hungFor(now)).toBeUndefined();
    now = 6100;
    expect(watch.hungFor(now)).toBe(600);
    // A second request does not restart the clock of a silent engine.
    watch.begin();
    expect(watch.hungFor(now)).toBe(600);
    watch.end();
    watch.end();
    watch.end();
    expect(watch.inFlight).toBe(0);
    expect(watch.hungFor(now)).toBeUndefined();
  });

  it('is off with a timeout of 0', () => {
    let now = 0;
    const watch = new ProgressWatch(0, () => now);
    watch.begin();
    now = 1e9;
    expect(watch.hungFor(now)).toBeUndefined();
  });
});
