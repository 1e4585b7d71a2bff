import { describe, expect, it } from 'vitest';
import { level } from './fixtures.ts';
import { cpuPerThousandChunksMs, hopCosts } from './hops.ts';

describe('hopCosts', () => {
  it('divides each hop by the floor of the same level, per request and per 1000 chunks', () => {
    const rows = hopCosts([
      level('floor', 64, { completed: 1000, cpu: { floor: 1 } }),
      level('node', 64, { completed: 1000, cpu: { daemon: 1.2 } }),
      level('gateway', 64, { completed: 500, cpu: { gateway: 1, daemon: 0.6 } }),
      level('gateway', 16, { cpu: { gateway: 9 } }), // no floor at 16: no row
    ]);
    expect(rows).toHaveLength(1);
    const [row] = rows;
    expect(row).toMatchObject({ stream: true, concurrency: 64, tokens: 32 });
    expect(row?.hops.floor?.perRequestMs).toBeCloseTo(1);
    expect(row?.hops.daemon?.perRequestRatio).toBeCloseTo(1.2);
    expect(row?.hops.daemonInGateway?.perRequestRatio).toBeCloseTo(1.2);
    expect(row?.hops.gateway?.perRequestMs).toBeCloseTo(2);
    expect(row?.hops.gateway?.perRequestRatio).toBeCloseTo(2);
    // 32 chunks per answer: 1 s over 32,000 chunks is 31.25 ms per 1000.
    expect(row?.hops.floor?.perThousandChunksMs).toBeCloseTo(31.25);
  });

  it('keeps levels of different answer lengths apart and leaves gaps for missing hops', () => {
    const rows = hopCosts([
      level('floor', 64, { cpu: { floor: 1 } }),
      level('floor', 64, { tokens: 512, completed: 10, cpu: { floor: 2 } }),
      level('gateway', 64, { tokens: 512, completed: 10, cpu: { gateway: 3 } }),
    ]);
    expect(rows.map((r) => r.tokens)).toEqual([32, 512]);
    expect(rows[0]?.hops.gateway).toBeUndefined();
    expect(rows[1]?.hops.gateway?.perThousandChunksRatio).toBeCloseTo(1.5);
    expect(rows[1]?.hops.daemon).toBeUndefined();
  });

  it('has no per-chunk figure for a level without chunks', () => {
    expect(cpuPerThousandChunksMs(level('floor', 16, { stream: false }), 'floor')).toBeNull();
  });
});
