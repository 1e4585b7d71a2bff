import { describe, expect, it } from 'vitest';
import {
  firstTokenDelayMs,
  interTokenDelayMs,
  jitterFactor,
  scheduleFirstToken,
  slowdownFactor,
  type LatencyParams,
} from './latency.ts';

const params: LatencyParams = {
  ttftMs: 50,
  prefillMsPerToken: 0.5,
  itlMs: 10,
  jitter: 0,
  maxNumSeqs: 8,
};

describe('latency model', () => {
  it('charges prefill per uncached token on top of a fixed overhead', () => {
    expect(firstTokenDelayMs(params, 0, 0.5)).toBe(50);
    expect(firstTokenDelayMs(params, 100, 0.5)).toBe(100);
    expect(firstTokenDelayMs(params, 20, 0.9)).toBe(60);
  });

  it('slows decoding as the batch fills, up to twice at max_num_seqs', () => {
    expect(slowdownFactor(0, 8)).toBe(1);
    expect(slowdownFactor(4, 8)).toBe(1.5);
    expect(slowdownFactor(8, 8)).toBe(2);
    expect(slowdownFactor(20, 8)).toBe(2);
    expect(interTokenDelayMs(params, 0, 0.3)).toBe(10);
    expect(interTokenDelayMs(params, 4, 0.3)).toBe(15);
  });

  it('applies jitter symmetrically within its fraction', () => {
    expect(jitterFactor(0.2, 0)).toBeCloseTo(0.8);
    expect(jitterFactor(0.2, 0.5)).toBe(1);
    expect(jitterFactor(0.2, 0.999999)).toBeCloseTo(1.2);
    const jittery = { ...params, jitter: 0.1 };
    expect(firstTokenDelayMs(jittery, 0, 0)).toBeCloseTo(45);
    expect(interTokenDelayMs(jittery, 0, 0.75)).toBeCloseTo(10.5);
  });
});

describe('serial prefill', () => {
  it('starts a prefill when the ones before it are done', () => {
    const p = { ...params, ttftMs: 10, prefillMsPerToken: 1 };
    expect(scheduleFirstToken(p, 100, 0, 50, 0.5)).toEqual({ dueAt: 160, prefillFreeAt: 150 });
    expect(scheduleFirstToken(p, 100, 150, 50, 0.5)).toEqual({ dueAt: 210, prefillFreeAt: 200 });
    // Nothing to compute: only the fixed overhead.
    expect(scheduleFirstToken(p, 100, 90, 0, 0.5)).toEqual({ dueAt: 110, prefillFreeAt: 100 });
  });
});
