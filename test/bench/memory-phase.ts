// The slow-stream memory phase's figures from its RSS samples: the idle gateway before the
// streams open, the gateway while they are open (first, median, peak and last sample), and
// the idle gateway after they all ended. Pure: the runner marks the phase's edges on the
// samples' clock.
import type { MemorySample } from './results.ts';

export interface PhaseEdges {
  // The streams are open from openFromMs to openToMs; afterFromMs is when the last ended.
  openFromMs: number;
  openToMs: number;
  afterFromMs: number;
}

export interface MemoryFigures {
  beforeKb: number;
  startKb: number;
  medianKb: number;
  peakKb: number;
  endKb: number;
  afterKb: number;
  peakAnonKb: number | null;
  peakFileKb: number | null;
}

export function memoryFigures(samples: readonly MemorySample[], edges: PhaseEdges): MemoryFigures {
  const before = samples.filter((s) => s.tMs < edges.openFromMs);
  const open = samples.filter((s) => s.tMs >= edges.openFromMs && s.tMs <= edges.openToMs);
  const after = samples.filter((s) => s.tMs >= edges.afterFromMs);
  // Too short a phase to have a sample inside: the nearest ones stand in.
  const during = open.length ? open : samples;
  const sorted = during.map((s) => s.rssKb).sort((a, b) => a - b);
  const peak = during.reduce<MemorySample | undefined>(
    (best, s) => (best === undefined || s.rssKb > best.rssKb ? s : best),
    undefined,
  );
  return {
    beforeKb: before.at(-1)?.rssKb ?? samples[0]?.rssKb ?? 0,
    startKb: during[0]?.rssKb ?? 0,
    medianKb: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    peakKb: peak?.rssKb ?? 0,
    endKb: during.at(-1)?.rssKb ?? 0,
    afterKb: after.at(-1)?.rssKb ?? samples.at(-1)?.rssKb ?? 0,
    peakAnonKb: peak?.anonKb ?? null,
    peakFileKb: peak?.fileKb ?? null,
  };
}
