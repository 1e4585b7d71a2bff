import { describe, expect, it } from 'vitest';
import { memoryFigures } from './memory-phase.ts';

const sample = (tMs: number, mib: number, anonMib?: number) => ({
  tMs,
  rssKb: mib * 1024,
  anonKb: anonMib === undefined ? null : anonMib * 1024,
  fileKb: anonMib === undefined ? null : (mib - anonMib) * 1024,
});

describe('memoryFigures', () => {
  it('splits the samples into before, open and after by the phase edges', () => {
    const samples = [
      sample(0, 100),
      sample(500, 101),
      sample(1000, 120, 90),
      sample(1500, 150, 120),
      sample(2000, 140, 110),
      sample(2500, 145, 115),
      sample(3000, 130),
      sample(4000, 125),
    ];
    const f = memoryFigures(samples, { openFromMs: 1000, openToMs: 2500, afterFromMs: 3500 });
    expect(f).toEqual({
      beforeKb: 101 * 1024,
      startKb: 120 * 1024,
      medianKb: 140 * 1024,
      peakKb: 150 * 1024,
      endKb: 145 * 1024,
      afterKb: 125 * 1024,
      peakAnonKb: 120 * 1024,
      peakFileKb: 30 * 1024,
    });
  });

  it('falls back to all samples when none lies inside the open window', () => {
    const f = memoryFigures([sample(0, 100), sample(250, 110)], {
      openFromMs: 100,
      openToMs: 200,
      afterFromMs: 300,
    });
    expect(f.peakKb).toBe(110 * 1024);
    expect(f.beforeKb).toBe(100 * 1024);
    expect(f.afterKb).toBe(110 * 1024);
    expect(f.peakAnonKb).toBeNull();
  });
});
