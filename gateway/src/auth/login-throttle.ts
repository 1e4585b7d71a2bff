// Login throttling, the arithmetic: failed logins are counted per throttle key (the username,
// and the client address) in a fixed window; once a key has had `limit` failures in its
// window, logins for it are refused until the window ends. A success clears the user's count
// (not the address's: one right password must not reset an address that guesses others).

export interface ThrottleRule {
  // Failures allowed within one window before logins are refused.
  limit: number;
  windowMs: number;
}

// Per user: a handful of typos. Per address: more, since many people may share one (NAT).
export const USER_THROTTLE: ThrottleRule = { limit: 5, windowMs: 15 * 60_000 };
export const ADDRESS_THROTTLE: ThrottleRule = { limit: 20, windowMs: 15 * 60_000 };

export interface FailureCount {
  failures: number;
  windowStart: number;
}

// Milliseconds until a refused key may try again, or 0 when it may try now.
export function retryAfterMs(
  count: FailureCount | undefined,
  rule: ThrottleRule,
  now: number,
): number {
  if (!count) return 0;
  const end = count.windowStart + rule.windowMs;
  if (end <= now || count.failures < rule.limit) return 0;
  return end - now;
}

export const userThrottleKey = (username: string) => `user:${username.toLowerCase()}`;
export const addressThrottleKey = (address: string) => `addr:${address}`;
