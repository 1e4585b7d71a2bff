// Exponential back-off: base, 2x base, 4x base, ... capped at max. Used for engine
// restarts (1 s .. 60 s) and for heartbeat retries while the gateway is unreachable.
export interface Backoff {
  baseMs: number;
  maxMs: number;
}

export const RESTART_BACKOFF: Backoff = { baseMs: 1000, maxMs: 60_000 };

// After this long ready, an engine's earlier crashes no longer lengthen its next back-off.
export const RESTART_BACKOFF_RESET_MS = 60_000;

// Delay before attempt number `failures` + 1, given `failures` consecutive failures so far
// (0 failures: no delay).
export function backoffDelay(failures: number, policy: Backoff = RESTART_BACKOFF): number {
  if (failures <= 0) return 0;
  // 2^30 is far past any cap; keeps the arithmetic finite.
  const factor = 2 ** Math.min(failures - 1, 30);
  return Math.min(policy.maxMs, policy.baseMs * factor);
}

// The tunnel's reconnects: 1 s doubling to 60 s.
export const TUNNEL_BACKOFF: Backoff = { baseMs: 1000, maxMs: 60_000 };

// A delay with "equal jitter": between half of it and all of it, so daemons cut off by one
// gateway restart do not all come back in the same instant. random: [0, 1).
export function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(ms / 2 + (random() * ms) / 2);
}
