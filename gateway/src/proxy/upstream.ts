// Cancellation of one upstream call: the client going away (its request signal, or the
// response stream being cancelled) and the gateway's own time limits both abort the same
// controller, whose signal the transport hands to fetch, so the node sees the connection
// close and stops its engine.

export class UpstreamAbort {
  readonly #controller = new AbortController();
  readonly #client: AbortSignal;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timedOut = false;
  readonly #onClientAbort = () => {
    this.#controller.abort(this.#client.reason);
  };

  constructor(client: AbortSignal) {
    this.#client = client;
    if (client.aborted) this.#controller.abort(client.reason);
    else client.addEventListener('abort', this.#onClientAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get clientAborted(): boolean {
    return this.#client.aborted;
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  abort(reason?: unknown): void {
    this.#controller.abort(reason);
  }

  // Aborts the call unless disarm() comes first.
  arm(ms: number): void {
    this.disarm();
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort(new Error(`no answer from the node within ${ms} ms`));
    }, ms);
  }

  disarm(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  // The call is over: stop listening to the client and drop the timer.
  release(): void {
    this.disarm();
    this.#client.removeEventListener('abort', this.#onClientAbort);
  }

  // Reads from an upstream stream, aborting when a single read waits longer than idleMs.
  // One lazily re-armed timer per stream rather than one per read (streams carry a chunk
  // per token); time the client spends not reading does not count as upstream silence.
  idleReader<T>(reader: ReadableStreamDefaultReader<T>, idleMs: number) {
    let waitingSince: number | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = () => {
      timer = undefined;
      if (waitingSince === null) return;
      const idle = Date.now() - waitingSince;
      if (idle >= idleMs) {
        this.#timedOut = true;
        this.#controller.abort(new Error(`the node sent nothing for ${idleMs} ms`));
      } else {
        timer = setTimeout(check, idleMs - idle);
      }
    };
    return {
      read: async (): Promise<ReadableStreamReadResult<T>> => {
        waitingSince = Date.now();
        timer ??= setTimeout(check, idleMs);
        try {
          return await reader.read();
        } finally {
          waitingSince = null;
        }
      },
      stop: () => {
        if (timer !== undefined) clearTimeout(timer);
        timer = undefined;
      },
    };
  }
}
