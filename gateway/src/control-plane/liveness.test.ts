import { describe, expect, it } from 'vitest';
import {
  MOVE_AFTER_INTERVALS,
  OFFLINE_AFTER_INTERVALS,
  isOnline,
  isStranded,
  offlineAfterMs,
  onlineSince,
} from './liveness.ts';

const NOW = 1_800_000_000_000;
const INTERVAL_S = 5;
const beat = (msAgo: number | null) => ({ lastHeartbeatAt: msAgo === null ? null : NOW - msAgo });

describe('liveness', () => {
  it('a node is online for three heartbeat intervals after its last heartbeat', () => {
    expect(OFFLINE_AFTER_INTERVALS).toBe(3);
    expect(offlineAfterMs(INTERVAL_S)).toBe(15_000);
    expect(isOnline(beat(0), NOW, INTERVAL_S)).toBe(true);
    expect(isOnline(beat(15_000), NOW, INTERVAL_S)).toBe(true);
    expect(isOnline(beat(15_001), NOW, INTERVAL_S)).toBe(false);
  });

  it('a node that never sent a heartbeat is offline', () => {
    expect(isOnline(beat(null), NOW, INTERVAL_S)).toBe(false);
  });

  it('onlineSince is the boundary isOnline uses (the SQL form compares against it)', () => {
    const since = onlineSince(NOW, INTERVAL_S);
    for (const at of [since - 1, since, since + 1]) {
      expect(isOnline({ lastHeartbeatAt: at }, NOW, INTERVAL_S)).toBe(at >= since);
    }
  });

  it('replicas may move only after ten silent intervals (or no heartbeat ever)', () => {
    expect(MOVE_AFTER_INTERVALS).toBe(10);
    expect(isStranded(beat(4 * 5000), NOW, INTERVAL_S)).toBe(false);
    expect(isStranded(beat(50_000), NOW, INTERVAL_S)).toBe(false);
    expect(isStranded(beat(50_001), NOW, INTERVAL_S)).toBe(true);
    expect(isStranded(beat(null), NOW, INTERVAL_S)).toBe(true);
  });
});
