// The circuit breaker of one instance, as data and a transition function.
//
//   closed    --failure (threshold-th in a row)-->  open      (cool-down starts)
//   closed    --success-->                          closed    (failure count back to 0)
//   open      --trial (cool-down over)-->           half_open (exactly one request let through)
//   half_open --success-->                          closed
//   half_open --failure-->                          open      (cool-down doubled, up to max)
//   half_open --release (trial aborted)-->          open      (the next request may try again)
//
// Failures are what says the instance did not serve: connection errors, 5xx before any
// body, a stream that failed before any output, a timeout. A client that went away says
// nothing about the instance and is not counted either way. While open, results of
// requests that started before the circuit opened are ignored: only the trial decides.
// Circuits are per gateway process (per isolate on Workers): each learns on its own, in
// at most `failureThreshold` failed requests.

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface Circuit {
  state: CircuitState;
  // Failures in a row while closed.
  failures: number;
  // When the circuit last opened (ms); null when closed.
  openedAt: number | null;
  // Openings in a row without a successful trial; each doubles the cool-down.
  trips: number;
  // When the trial request started (half_open only).
  trialAt: number | null;
}

export type CircuitEvent = 'success' | 'failure' | 'trial' | 'release';

export interface BreakerOptions {
  // Failures in a row that open the circuit. Default 3.
  failureThreshold: number;
  // Time out of rotation after the first opening, in ms. Default 10 000.
  cooldownMs: number;
  // The longest cool-down, reached by doubling after failed trials, in ms. Default 60 000.
  maxCooldownMs: number;
}

export const DEFAULT_BREAKER_OPTIONS: BreakerOptions = {
  failureThreshold: 3,
  cooldownMs: 10_000,
  maxCooldownMs: 60_000,
};

export const CLOSED: Circuit = {
  state: 'closed',
  failures: 0,
  openedAt: null,
  trips: 0,
  trialAt: null,
};

export function cooldownOf(c: Circuit, opts: BreakerOptions): number {
  return Math.min(opts.maxCooldownMs, opts.cooldownMs * 2 ** Math.max(0, c.trips - 1));
}

// When an open circuit lets its trial through (ms); null when not open.
export function retryAt(c: Circuit, opts: BreakerOptions): number | null {
  if (c.state === 'open' && c.openedAt !== null) return c.openedAt + cooldownOf(c, opts);
  return null;
}

// Whether a request may go to the instance now: 'yes', 'trial' (it would be the one
// trial request; the caller then applies the 'trial' event), or 'no'.
export function admits(c: Circuit, now: number, opts: BreakerOptions): 'yes' | 'trial' | 'no' {
  if (c.state === 'closed') return 'yes';
  if (c.state === 'open') {
    const at = retryAt(c, opts);
    return at !== null && now >= at ? 'trial' : 'no';
  }
  // half_open: one trial at a time; a trial that never reported back (a lost request)
  // is given up after a cool-down, and another may start.
  return c.trialAt !== null && now - c.trialAt >= cooldownOf(c, opts) ? 'trial' : 'no';
}

function open(c: Circuit, now: number): Circuit {
  return { state: 'open', failures: 0, openedAt: now, trips: c.trips + 1, trialAt: null };
}

export function transition(
  c: Circuit,
  event: CircuitEvent,
  now: number,
  opts: BreakerOptions,
): Circuit {
  switch (c.state) {
    case 'closed':
      if (event === 'success') return c.failures === 0 ? c : { ...c, failures: 0 };
      if (event === 'failure') {
        const failures = c.failures + 1;
        return failures >= opts.failureThreshold ? open(c, now) : { ...c, failures };
      }
      return c;
    case 'open':
      if (event === 'trial') return { ...c, state: 'half_open', trialAt: now };
      return c;
    case 'half_open':
      if (event === 'success') return CLOSED;
      if (event === 'failure') return open(c, now);
      // The trial went away undecided: back to open with the cool-down already served,
      // so the next request becomes the trial.
      if (event === 'release') return { ...c, state: 'open', trialAt: null };
      if (event === 'trial') return { ...c, trialAt: now };
      return c;
  }
}
