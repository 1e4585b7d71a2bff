import { describe, expect, it } from 'vitest';
import { level, results } from './fixtures.ts';
import {
  checkTargets,
  compareToDirect,
  fmt,
  markdownTable,
  renderMarkdown,
  rssTimeline,
} from './report.ts';

describe('markdownTable', () => {
  it('pads columns, right-aligns numbers and marks alignment in the rule', () => {
    const table = markdownTable(
      ['name', 'n'],
      [
        ['a', '1'],
        ['bbbbb', '100'],
      ],
      ['l', 'r'],
    );
    expect(table.split('\n')).toEqual([
      '| name  |   n |',
      '| ----- | --: |',
      '| a     |   1 |',
      '| bbbbb | 100 |',
    ]);
  });
});

describe('fmt', () => {
  it('shows a dash for missing or non-finite values', () => {
    expect(fmt(1.234, 2)).toBe('1.23');
    expect(fmt(null)).toBe('–');
    expect(fmt(Number.NaN)).toBe('–');
  });
});

describe('compareToDirect', () => {
  it('subtracts and divides by the same level of the direct path', () => {
    const levels = [
      level('direct', 64, { ttft: [20, 20, 20], latency: [180], rps: 300 }),
      level('gateway', 64, { ttft: [21.5, 21.5, 21.5], latency: [183], rps: 270 }),
      level('gateway', 16, { ttft: [30] }), // no direct level to compare with
      level('direct', 16, { stream: false, latency: [180] }),
      level('gateway', 16, { stream: false, latency: [190] }),
    ];
    const [c64, c16] = compareToDirect(levels);
    expect(c64?.ttftP50DeltaMs).toBeCloseTo(1.5);
    expect(c64?.ttftP50Ratio).toBeCloseTo(1.075);
    expect(c64?.latencyP50DeltaMs).toBeCloseTo(3);
    expect(c64?.rpsRatio).toBeCloseTo(0.9);
    expect(c16?.level.stream).toBe(false);
    expect(c16?.ttftP50DeltaMs).toBeNull();
    expect(c16?.latencyP50DeltaMs).toBeCloseTo(10);
    expect(compareToDirect(levels)).toHaveLength(2);
  });
});

describe('checkTargets', () => {
  it('reports each target at 64 streams as met or not, for the gateway paths only', () => {
    const checks = checkTargets([
      level('direct', 64, { ttft: [20, 20, 20, 20], rps: 1000 }),
      level('node', 64, { ttft: [50, 50, 50, 50], rps: 100 }),
      level('gateway', 64, { ttft: [21, 21, 21, 40], rps: 790 }),
    ]);
    expect(checks.map((c) => [c.path, c.met])).toEqual([
      ['gateway', true], // p50 +1 ms
      ['gateway', false], // p99 about +19 ms
      ['gateway', false], // 79% of the direct throughput
    ]);
  });
});

describe('renderMarkdown', () => {
  it('prints every level, the overheads, the resources and the targets', () => {
    const md = renderMarkdown(
      results([
        level('direct', 64),
        level('node', 64),
        level('gateway', 64, { completed: 2000 }),
        level('gateway', 16, { stream: false }),
      ]),
    );
    expect(md).toContain('2 CPU cores');
    expect(md).toContain('Load average at start: 0.50; commit abc1234.');
    expect(md).toContain('## Overhead versus the direct path (a)');
    expect(md).toContain('## Targets (reported, not asserted)');
    expect(md).toMatch(/\(c\) gateway \(Node\) \+ gpu-node \| stream\s+\|\s+64 \|/);
    expect(md).toContain('non-stream');
    // gateway CPU: 3 s over 2000 requests = 1.50 s per 1000; 120 MiB peak RSS.
    const gatewayRow = md.split('\n').find((l) => l.includes('(c)') && l.includes('1.50'));
    expect(gatewayRow).toMatch(/\|\s+120 \|\s+88 \|$/);
  });

  it('lists notes and error samples', () => {
    const failing = level('gateway', 1);
    failing.load.errorSamples = ['HTTP 503: no ready instance'];
    const r = results([level('direct', 1), failing]);
    r.notes.push('worker path skipped: wrangler failed');
    const md = renderMarkdown(r);
    expect(md).toContain('- worker path skipped: wrangler failed');
    expect(md).toContain('HTTP 503: no ready instance');
  });
});

describe('rssTimeline', () => {
  it('keeps about one sample per second, in MiB', () => {
    const samples = [0, 250, 500, 1000, 1250, 2100, 3900].map((tMs, i) => ({
      tMs,
      rssKb: (100 + i) * 1024,
    }));
    expect(rssTimeline(samples)).toBe('0 s 100, 1 s 103, 2 s 105, 4 s 106');
  });
});
