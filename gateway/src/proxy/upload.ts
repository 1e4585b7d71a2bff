// A request body forwarded as a stream (a multipart audio upload), not held in memory. It
// can be sent once: an attempt that failed before the transport read any of it (no
// connection to the node) may hand it to the next instance; after the first byte went
// out, the upload cannot be replayed and the request is not retried.
export class Upload {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #read = false;

  constructor(
    // The upload's own content type (multipart/form-data with its boundary).
    readonly contentType: string,
    source: ReadableStream<Uint8Array>,
  ) {
    this.#reader = source.getReader();
  }

  // Whether an attempt has taken bytes of the upload.
  get started(): boolean {
    return this.#read;
  }

  // The body of one attempt, or undefined once an earlier attempt read from the upload.
  body(): ReadableStream<Uint8Array> | undefined {
    if (this.#read) return undefined;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        this.#read = true;
        const { done, value } = await this.#reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      // A failed attempt's transport cancels its body; the upload stays for the next one
      // (or is cancelled by cancel(), below).
    });
  }

  // Nobody will send the rest: stop reading the client's upload.
  cancel(reason?: unknown): void {
    this.#reader.cancel(reason).catch(() => undefined);
  }
}

// The upload, then the bytes already read off it ahead of the rest (the form head the
// gateway scanned for its fields).
export function prepend(
  head: readonly Uint8Array[],
  rest: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = head[i];
      if (next !== undefined) {
        i += 1;
        controller.enqueue(next);
        return;
      }
      const { done, value } = await rest.read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return rest.cancel(reason);
    },
  });
}
