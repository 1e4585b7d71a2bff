import { describe, expect, it } from 'vitest';
import { level, memory, results } from './fixtures.ts';
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
  it("reports issue 11's targets as met or not, the CPU ones against the floor (m)", () => {
    const checks = checkTargets(
      [
        level('direct', 64, { ttft: [20, 20, 20, 20], rps: 1000 }),
        level('floor', 64, { cpu: { floor: 1 } }),
        level('node', 64, { ttft: [50, 50, 50, 50], rps: 100, cpu: { daemon: 1.1 } }),
        level('gateway', 64, { ttft: [22, 22, 22, 40], rps: 890, cpu: { gateway: 1.4 } }),
        level('direct', 256, { rps: 1000 }),
        level('floor', 256, { cpu: { floor: 2 } }),
        level('node', 256, { cpu: { daemon: 2.6 } }),
        level('gateway', 256, { rps: 700, cpu: { gateway: 2.6 } }),
        // The long-stream level shares a concurrency, but is not what the targets measure.
        level('direct', 64, { tokens: 512, rps: 10 }),
        level('gateway', 64, { tokens: 512, rps: 1 }),
      ],
      {
        ...memory,
        startKb: 100_000,
        endKb: 105_000,
      },
    );
    expect(checks.map((c) => [c.path, c.what.split(' ')[0], c.met])).toEqual([
      ['gateway', 'gateway', false], // 1.4x the floor at 64
      ['node', 'daemon', true], // 1.1x
      ['gateway', 'gateway', true], // 1.3x at 256
      ['node', 'daemon', false], // 1.3x
      ['gateway', 'added', true], // +2 ms TTFT p50 at 64
      ['gateway', 'throughput', false], // 89% at 64
      ['gateway', 'throughput', true], // 70% at 256
      ['gateway', 'gateway', true], // RSS +5% while open
    ]);
    expect(checks[0]?.measured).toBe('1.40×');
  });
});

describe('renderMarkdown', () => {
  it('prints every level, the overheads, the resources and the targets', () => {
    const md = renderMarkdown(
      results([
        level('direct', 64),
        level('floor', 64, { cpu: { floor: 1.5 } }),
        level('node', 64),
        level('gateway', 64, { completed: 2000 }),
        level('gateway', 16, { stream: false }),
        level('floor', 64, { tokens: 512, completed: 100, cpu: { floor: 2 } }),
        level('gateway', 64, { tokens: 512, completed: 100, cpu: { gateway: 5 } }),
      ]),
    );
    expect(md).toContain('## CPU per hop against the bare hop (m)');
    // 64 streams: floor 1.5 ms per request, gateway 3 s / 2000 = 1.5 ms: 1.00x.
    expect(md).toMatch(
      /\| stream\s+\|\s+64 \|\s+32 \| CPU ms \/ request\s+\|\s+1\.50 \(1\.00×\) \|/,
    );
    // 512 tokens: 100 answers x 512 chunks; floor 2 s, gateway 5 s per 51,200 chunks.
    expect(md).toMatch(/CPU ms \/ 1000 chunks \|\s+39\.06 \(1\.00×\) \|.*97\.66 \(2\.50×\) \|$/m);
    expect(md).toContain('stream, 512 tok');
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

describe('renderMarkdown, memory phase', () => {
  it('shows the gateway RSS before, while and after the slow streams are open', () => {
    const md = renderMarkdown({ ...results([level('direct', 64)]), memory });
    expect(md).toContain('1000 concurrent streams of 100 tokens at 100 ms per token');
    expect(md).toMatch(
      /\|\s+80\.0 \|\s+90\.0 \|\s+100\.0 \|\s+100\.0 \|\s+101\.0 \|\s+100\.0 \|\s+95\.0 \|/,
    );
    expect(md).toContain('70.0 MiB of it was anonymous memory');
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
