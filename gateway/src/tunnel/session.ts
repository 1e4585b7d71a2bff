// The gateway's end of one node's tunnel: sends each data-plane request as a stream of
// frames (schema/tunnel.ts) over the node's WebSocket and turns the node's frames back into
// a Web Response with a streamed body. Web-standard APIs only: the Node host and the
// Worker's Durable Object both run it around their own kind of socket.
//
// Flow control: the answer's body is read one chunk per pull (highWaterMark 0), and credit
// goes back to the node only for what the reader took, so a slow client holds at most one
// window per stream here; the request body waits for the node's credit the same way.
import {
  decodeFrame,
  encodeFrame,
  HOP_BY_HOP_HEADERS,
  InOrder,
  ReceiveWindow,
  SendWindow,
  TUNNEL_MAX_STREAMS,
  type Frame,
  type ResponseHead,
} from '../../../schema/tunnel.ts';

export interface TunnelSocket {
  send(data: Uint8Array): void;
  close(code: number, reason: string): void;
}

export type TunnelErrorCode =
  'node_tunnel_down' | 'node_tunnel_closed' | 'node_tunnel_busy' | 'node_tunnel_stream';

// Every failure of a tunnelled request; forward() treats one before the answer's head as a
// connection failure (another instance is tried).
export class TunnelError extends Error {
  override readonly name = 'TunnelError';
  constructor(
    readonly code: TunnelErrorCode,
    message: string,
  ) {
    super(message);
  }
}

interface Stream {
  id: number;
  send: SendWindow;
  recv: ReceiveWindow;
  // Sequence numbers: the next to send, and the node's frames put back in order.
  sendSeq: number;
  order: InOrder;
  head: { resolve: (head: ResponseHead) => void; reject: (err: Error) => void } | undefined;
  headSeen: boolean;
  queue: Uint8Array[];
  ended: boolean;
  failed: Error | undefined;
  // Woken by any frame of the stream (credit, data, end) or its failure: the body's sender
  // waiting for credit and the answer's reader waiting for data.
  waiting: (() => void)[];
  release: () => void;
}

const NULL_BODY = new Set([204, 205, 304]);
const MAX_STREAM_ID = 0xffff_ffff;

function headerPairs(init: HeadersInit | undefined): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of new Headers(init)) {
    if (!HOP_BY_HOP_HEADERS.has(name)) out.push([name, value]);
  }
  return out;
}

type Body = Uint8Array | ReadableStream<Uint8Array>;

function bodyOf(body: RequestInit['body']): Body | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return new TextEncoder().encode(body);
  if (body instanceof Uint8Array || body instanceof ReadableStream) return body as Body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  throw new TypeError('the tunnel sends string, byte or stream bodies only');
}

function wakeOf(stream: Stream): void {
  const waiting = stream.waiting;
  stream.waiting = [];
  for (const wake of waiting) wake();
}

function waitOn(stream: Stream): Promise<void> {
  return new Promise<void>((resolve) => stream.waiting.push(resolve));
}

export class TunnelSession {
  readonly #socket: TunnelSocket;
  readonly #streams = new Map<number, Stream>();
  #nextId = 1;
  #closed: TunnelError | undefined;
  // When the node last said anything (frames or pings): the host drops silent tunnels.
  lastSeen = Date.now();

  constructor(socket: TunnelSocket) {
    this.#socket = socket;
  }

  get isOpen(): boolean {
    return this.#closed === undefined;
  }

  get openStreams(): number {
    return this.#streams.size;
  }

  // The socket is gone: every open stream fails (before its head: forward() tries another
  // instance; mid-answer: the relay ends the client's stream).
  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = new TunnelError('node_tunnel_closed', `the node's tunnel closed: ${reason}`);
    for (const stream of [...this.#streams.values()]) this.#fail(stream, this.#closed);
  }

  fetch(path: string, init: RequestInit & { signal: AbortSignal }): Promise<Response> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (init.signal.aborted) return Promise.reject(init.signal.reason as Error);
    if (this.#streams.size >= TUNNEL_MAX_STREAMS) {
      return Promise.reject(
        new TunnelError('node_tunnel_busy', `the tunnel has ${TUNNEL_MAX_STREAMS} streams open`),
      );
    }
    let body: Body | undefined;
    try {
      body = bodyOf(init.body);
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new TypeError(String(err)));
    }
    const method = (init.method ?? 'GET').toUpperCase();
    const stream = this.#open();
    const onAbort = () => this.#abort(stream, 'the client left');
    init.signal.addEventListener('abort', onAbort, { once: true });
    stream.release = () => init.signal.removeEventListener('abort', onAbort);
    const head = new Promise<ResponseHead>((resolve, reject) => {
      stream.head = { resolve, reject };
    });
    return this.#request(stream, method, path, init.headers, body, head);
  }

  async #request(
    stream: Stream,
    method: string,
    path: string,
    headers: HeadersInit | undefined,
    body: Body | undefined,
    head: Promise<ResponseHead>,
  ): Promise<Response> {
    // The head may fail before anyone awaits it (the socket closing while the body waits).
    head.catch(() => undefined);
    try {
      const pairs = headerPairs(headers);
      if (body instanceof Uint8Array) pairs.push(['content-length', String(body.byteLength)]);
      this.#send({
        type: 'request',
        stream: stream.id,
        head: { method: method as 'GET', path, headers: pairs },
      });
      // The body goes out while the answer is awaited: a node may answer (a 413) before
      // an upload is over.
      this.#sendBody(stream, body).catch((err: unknown) => {
        const reason = err instanceof Error ? err.message : String(err);
        this.#abort(stream, `the request body failed: ${reason}`);
      });
      const answer = await head;
      const nullBody = NULL_BODY.has(answer.status) || method === 'HEAD';
      if (nullBody) this.#finish(stream);
      return new Response(nullBody ? null : this.#bodyOf(stream), {
        status: answer.status,
        headers: answer.headers,
      });
    } catch (err) {
      this.#fail(stream, err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  // The node's frames, one WebSocket message each. A malformed or unexpected frame ends its
  // stream, never the session.
  receive(message: Uint8Array): void {
    this.lastSeen = Date.now();
    const decoded = decodeFrame(message);
    if (!decoded.ok) {
      const stream = decoded.stream === null ? undefined : this.#streams.get(decoded.stream);
      if (stream) this.#abort(stream, `malformed frame: ${decoded.error}`);
      return;
    }
    const frame = decoded.frame;
    const stream = this.#streams.get(frame.stream);
    // Frames of a stream already over (it was aborted here while they were on the way).
    if (!stream) return;
    switch (frame.type) {
      case 'response':
        if (stream.headSeen || !stream.head) {
          this.#abort(stream, 'a second response head');
          return;
        }
        stream.headSeen = true;
        stream.head.resolve(frame.head);
        return;
      case 'data':
      case 'end': {
        const due = stream.order.accept(frame);
        if (due === null) {
          this.#abort(stream, 'a data frame repeated or too far out of order');
          return;
        }
        for (const next of due) this.#ordered(stream, next);
        return;
      }
      case 'window':
        if (!stream.send.grant(frame.credit)) {
          this.#abort(stream, 'window credit past the window');
          return;
        }
        wakeOf(stream);
        return;
      case 'abort':
        this.#fail(
          stream,
          new TunnelError('node_tunnel_stream', `the node ended the stream: ${frame.reason}`),
        );
        return;
      case 'request':
        this.#abort(stream, 'the gateway does not take requests');
        return;
    }
  }

  // Data and end in the node's order. They may come before the response head (a Durable
  // Object's events can run out of order): the body made at the head reads the queue.
  #ordered(stream: Stream, frame: Extract<Frame, { type: 'data' | 'end' }>): void {
    if (stream.failed) return;
    if (frame.type === 'end') {
      stream.ended = true;
      wakeOf(stream);
      return;
    }
    if (stream.ended || !stream.recv.received(frame.data.byteLength)) {
      this.#abort(stream, stream.ended ? 'data after end' : 'data past the window');
      return;
    }
    // A copy: the frame may be a view into a buffer the socket reuses.
    stream.queue.push(frame.data.slice());
    wakeOf(stream);
  }

  #open(): Stream {
    let id = this.#nextId;
    while (this.#streams.has(id)) id = id >= MAX_STREAM_ID ? 1 : id + 1;
    this.#nextId = id >= MAX_STREAM_ID ? 1 : id + 1;
    const stream: Stream = {
      id,
      send: new SendWindow(),
      recv: new ReceiveWindow(),
      sendSeq: 0,
      order: new InOrder(),
      head: undefined,
      headSeen: false,
      queue: [],
      ended: false,
      failed: undefined,
      waiting: [],
      release: () => undefined,
    };
    this.#streams.set(id, stream);
    return stream;
  }

  #send(frame: Frame): void {
    if (this.#closed) throw this.#closed;
    this.#socket.send(encodeFrame(frame));
  }

  async #sendBody(stream: Stream, body: Body | undefined): Promise<void> {
    if (body instanceof ReadableStream) {
      const reader = body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await this.#sendBytes(stream, value);
        }
      } catch (err) {
        await reader.cancel(err).catch(() => undefined);
        throw err;
      }
    } else if (body !== undefined) {
      await this.#sendBytes(stream, body);
    }
    if (!stream.failed) this.#send({ type: 'end', stream: stream.id, seq: stream.sendSeq++ });
  }

  // Within the node's credit: waits for window frames when the window is spent.
  async #sendBytes(stream: Stream, bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      if (stream.failed) throw stream.failed;
      const n = stream.send.take(bytes.byteLength - offset);
      if (n === 0) {
        await waitOn(stream);
        continue;
      }
      this.#send({
        type: 'data',
        stream: stream.id,
        seq: stream.sendSeq++,
        data: bytes.subarray(offset, offset + n),
      });
      offset += n;
    }
  }

  #bodyOf(stream: Stream): ReadableStream<Uint8Array> {
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            const chunk = stream.queue.shift();
            if (chunk) {
              controller.enqueue(chunk);
              const credit = stream.recv.consumed(chunk.byteLength);
              if (credit > 0 && !stream.ended && !stream.failed) {
                this.#trySend({ type: 'window', stream: stream.id, credit });
              }
              return;
            }
            if (stream.failed) {
              controller.error(stream.failed);
              return;
            }
            if (stream.ended) {
              this.#finish(stream);
              controller.close();
              return;
            }
            await waitOn(stream);
          }
        },
        cancel: () => {
          this.#abort(stream, 'the client left');
        },
      },
      { highWaterMark: 0 },
    );
  }

  #trySend(frame: Frame): void {
    try {
      this.#send(frame);
    } catch {
      // The socket is closing; close() fails the streams.
    }
  }

  // Ends the stream from this side: tells the node (which stops the engine) and fails it here.
  #abort(stream: Stream, reason: string): void {
    if (stream.failed || this.#streams.get(stream.id) !== stream) return;
    this.#trySend({ type: 'abort', stream: stream.id, reason });
    this.#fail(stream, new TunnelError('node_tunnel_stream', `tunnel stream ended: ${reason}`));
  }

  #fail(stream: Stream, err: Error): void {
    if (stream.failed) return;
    stream.failed = err;
    stream.head?.reject(err);
    wakeOf(stream);
    this.#finish(stream);
  }

  #finish(stream: Stream): void {
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
    stream.release();
  }
}
