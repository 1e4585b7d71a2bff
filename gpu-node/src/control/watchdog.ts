// The hung-engine watchdog of one instance. Engines that hang (a GPU or collective-op
// deadlock) keep answering their health check with 200, so health checks never notice; what
// does notice is that requests are in flight and nothing comes out. The proxy reports every
// piece of output it relays; when requests have been in flight for the timeout with no
// output from any of them, the instance counts as hung: it is reported failed to the
// gateway (out of rotation at the gateway's next routing-table load) and refuses new
// requests at once (the gateway then tries another instance). It counts as recovered as soon
// as output flows again, or when nothing is in flight any more (its stuck requests ended,
// or the engine was restarted): the next requests then show whether it still hangs.

// Default time without output, with requests in flight, before an instance counts as hung.
// Long enough for the longest legitimate silence: a long prompt's prefill behind a full
// batch takes seconds, not a minute.
export const DEFAULT_HANG_TIMEOUT_MS = 60_000;

export class ProgressWatch {
  #inFlight = 0;
  #lastProgressAt = 0;

  constructor(
    // 0 turns the watchdog off.
    readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  get inFlight(): number {
    return this.#inFlight;
  }

  // A request starts; an idle instance's clock starts with it.
  begin(): void {
    if (this.#inFlight === 0) this.#lastProgressAt = this.now();
    this.#inFlight += 1;
  }

  end(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
  }

  // Some output (headers or body bytes) came from the engine.
  progress(): void {
    this.#lastProgressAt = this.now();
  }

  // How long the instance has been silent with requests in flight, once that is past the
  // timeout; undefined while it is not hung.
  hungFor(now: number): number | undefined {
    if (this.timeoutMs <= 0 || this.#inFlight === 0) return undefined;
    const silent = now - this.#lastProgressAt;
    return silent >= this.timeoutMs ? silent : undefined;
  }
}
