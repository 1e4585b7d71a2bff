// When a node counts as online, written once. A node is online while its last heartbeat is
// at most OFFLINE_AFTER_INTERVALS heartbeat intervals old; silent for MOVE_AFTER_INTERVALS
// its replicas may move elsewhere. The TypeScript check (isOnline) and the database filter
// (store/nodes.ts, `last_heartbeat_at >= onlineSince(...)`) both derive from onlineSince,
// so the admin API, routing and placement cannot disagree about a node at the boundary.

export const OFFLINE_AFTER_INTERVALS = 3;
export const MOVE_AFTER_INTERVALS = 10;

// How long a node may stay silent and still be online (also how long a routing table
// stays usable when a reload fails: no node in it can have gone offline for longer).
export function offlineAfterMs(heartbeatIntervalS: number): number {
  return OFFLINE_AFTER_INTERVALS * heartbeatIntervalS * 1000;
}

// The oldest heartbeat (unix ms) that still makes a node online at `now`.
export function onlineSince(now: number, heartbeatIntervalS: number): number {
  return now - offlineAfterMs(heartbeatIntervalS);
}

export function isOnline(
  node: { lastHeartbeatAt: number | null },
  now: number,
  heartbeatIntervalS: number,
): boolean {
  return (
    node.lastHeartbeatAt !== null && node.lastHeartbeatAt >= onlineSince(now, heartbeatIntervalS)
  );
}

// Silent long enough (or never heard from) that its replicas may be placed elsewhere; a
// node that is merely late keeps its work.
export function isStranded(
  node: { lastHeartbeatAt: number | null },
  now: number,
  heartbeatIntervalS: number,
): boolean {
  return (
    node.lastHeartbeatAt === null ||
    now - node.lastHeartbeatAt > MOVE_AFTER_INTERVALS * heartbeatIntervalS * 1000
  );
}
