// What this gateway process saw of each instance itself, kept apart from what the engines
// report in heartbeats (table.ts): requests it has in flight there, a recent time to first
// token, and the instance's circuit breaker. Lives as long as the app (one per Node
// process, one per isolate on Workers) and is shared by the router and the admin API.
import {
  CLOSED,
  DEFAULT_BREAKER_OPTIONS,
  admits,
  retryAt,
  transition,
  type BreakerOptions,
  type Circuit,
} from './breaker.ts';

// How one attempt at an instance ended, as the proxy tells it.
//   ok:      the instance answered (a 4xx too: the request was wrong, not the instance)
//   failed:  connection error, 5xx, timeout, or a stream that broke before any output
//   aborted: the client went away; says nothing about the instance
export type AttemptOutcome = 'ok' | 'failed' | 'aborted';

export interface LiveFigures {
  inFlight: number;
  // Exponentially weighted recent time to first token of streamed answers (ms).
  ttftMs: number | null;
  // Failed attempts since the last success.
  recentFailures: number;
  circuit: Circuit;
}

// Weight of the newest sample in the TTFT average: about the last ten requests count.
const TTFT_ALPHA = 0.2;
// Instances not seen for this long are forgotten, so the map does not grow with every
// instance that ever existed.
const FORGET_AFTER_MS = 10 * 60_000;

interface Entry extends LiveFigures {
  seenAt: number;
}

export interface Attempt {
  readonly instanceId: string;
  end(outcome: AttemptOutcome, ttftMs?: number | null): void;
}

export class LiveStats {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly breaker: BreakerOptions;

  constructor(opts: { now: () => number; breaker?: Partial<BreakerOptions> }) {
    this.#now = opts.now;
    this.breaker = { ...DEFAULT_BREAKER_OPTIONS, ...opts.breaker };
  }

  #entry(id: string): Entry {
    let e = this.#entries.get(id);
    if (!e) {
      e = { inFlight: 0, ttftMs: null, recentFailures: 0, circuit: CLOSED, seenAt: this.#now() };
      this.#entries.set(id, e);
    }
    return e;
  }

  get(id: string): LiveFigures {
    return (
      this.#entries.get(id) ?? { inFlight: 0, ttftMs: null, recentFailures: 0, circuit: CLOSED }
    );
  }

  // Whether the breaker lets a request through now ('trial': it would be the trial).
  admits(id: string): 'yes' | 'trial' | 'no' {
    const e = this.#entries.get(id);
    return e ? admits(e.circuit, this.#now(), this.breaker) : 'yes';
  }

  // When the circuit of an open instance lets a trial through (ms); null when not open.
  retryAt(id: string): number | null {
    const e = this.#entries.get(id);
    return e ? retryAt(e.circuit, this.breaker) : null;
  }

  // A request goes to the instance; the attempt must be ended exactly once (later calls
  // are ignored).
  start(id: string): Attempt {
    const now = this.#now();
    const e = this.#entry(id);
    e.seenAt = now;
    e.inFlight += 1;
    const trial = admits(e.circuit, now, this.breaker) === 'trial';
    if (trial) e.circuit = transition(e.circuit, 'trial', now, this.breaker);
    let ended = false;
    return {
      instanceId: id,
      end: (outcome, ttftMs) => {
        if (ended) return;
        ended = true;
        this.#end(e, outcome, trial, ttftMs ?? null);
      },
    };
  }

  #end(e: Entry, outcome: AttemptOutcome, trial: boolean, ttftMs: number | null): void {
    const now = this.#now();
    e.inFlight = Math.max(0, e.inFlight - 1);
    e.seenAt = now;
    if (outcome === 'ok') {
      e.recentFailures = 0;
      if (ttftMs !== null) {
        e.ttftMs = e.ttftMs === null ? ttftMs : e.ttftMs + TTFT_ALPHA * (ttftMs - e.ttftMs);
      }
    } else if (outcome === 'failed') {
      e.recentFailures += 1;
    }
    // Only the trial decides a circuit that is not closed; requests that were already on
    // their way when it opened do not.
    if (e.circuit.state !== 'closed' && !trial) return;
    const event = outcome === 'ok' ? 'success' : outcome === 'failed' ? 'failure' : 'release';
    e.circuit = transition(e.circuit, event, now, this.breaker);
    this.#sweep(now);
  }

  #sweep(now: number): void {
    if (this.#entries.size < 1024) return;
    for (const [id, e] of this.#entries) {
      if (e.inFlight === 0 && now - e.seenAt > FORGET_AFTER_MS) this.#entries.delete(id);
    }
  }
}
