// The daemon's end of the tunnel's streams: each request the gateway sends as frames
// (schema/tunnel.ts) goes to the daemon's own HTTP listener on loopback, so it meets the same
// handler as a direct request (the data-plane JWT checked, the body limits, the engine
// proxy), and the answer goes back as frames within the gateway's credit. An abort from the
// gateway closes the loopback request, which stops the engine as a client leaving does.
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import {
  decodeFrame,
  encodeFrame,
  HOP_BY_HOP_HEADERS,
  InOrder,
  ReceiveWindow,
  SendWindow,
  TUNNEL_MAX_STREAMS,
  type Frame,
  type RequestHead,
} from '../../../schema/tunnel.ts';

interface Stream {
  id: number;
  req: ClientRequest;
  res: IncomingMessage | undefined;
  send: SendWindow;
  recv: ReceiveWindow;
  // Sequence numbers: the next to send, and the gateway's frames put back in order.
  sendSeq: number;
  order: InOrder;
  // Answer bytes waiting for credit (at most one chunk of the loopback response: the
  // response is paused while anything waits).
  pending: Uint8Array[];
  ended: boolean;
  done: boolean;
}

export interface LocalTarget {
  host: string;
  port: number;
}

// Marks the end of an answer in a stream's pending queue (after the bytes before it).
const END = new Uint8Array(0);

// Many streams at once, each its own loopback request; keep-alive saves a connect per request.
const agent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });

export class TunnelStreams {
  readonly #send: (data: Uint8Array) => void;
  readonly #target: LocalTarget;
  readonly #streams = new Map<number, Stream>();

  constructor(send: (data: Uint8Array) => void, target: LocalTarget) {
    this.#send = send;
    this.#target = target;
  }

  get open(): number {
    return this.#streams.size;
  }

  receive(message: Uint8Array): void {
    const decoded = decodeFrame(message);
    if (!decoded.ok) {
      if (decoded.stream !== null) {
        const stream = this.#streams.get(decoded.stream);
        if (stream) this.#abort(stream, `malformed frame: ${decoded.error}`);
        else this.#frame({ type: 'abort', stream: decoded.stream, reason: decoded.error });
      }
      return;
    }
    const frame = decoded.frame;
    const stream = this.#streams.get(frame.stream);
    if (frame.type === 'request') {
      if (stream) {
        this.#abort(stream, 'a second request head on one stream');
        return;
      }
      if (this.#streams.size >= TUNNEL_MAX_STREAMS) {
        this.#frame({ type: 'abort', stream: frame.stream, reason: 'too many streams' });
        return;
      }
      this.#start(frame.stream, frame.head);
      return;
    }
    if (!stream) return;
    switch (frame.type) {
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
        this.#flush(stream);
        return;
      case 'abort':
        // The client left (or the gateway gave up): closing the loopback request makes the
        // daemon's proxy stop the engine.
        this.#close(stream);
        return;
      case 'response':
        this.#abort(stream, 'the node does not take responses');
        return;
    }
  }

  #ordered(stream: Stream, frame: Extract<Frame, { type: 'data' | 'end' }>): void {
    if (stream.done) return;
    if (frame.type === 'end') {
      stream.ended = true;
      stream.req.end();
      return;
    }
    if (stream.ended || !stream.recv.received(frame.data.byteLength)) {
      this.#abort(stream, stream.ended ? 'data after end' : 'data past the window');
      return;
    }
    const bytes = frame.data.byteLength;
    stream.req.write(frame.data.slice(), () => {
      if (stream.done) return;
      const credit = stream.recv.consumed(bytes);
      if (credit > 0) this.#frame({ type: 'window', stream: stream.id, credit });
    });
  }

  // The socket is gone: every loopback request is closed (their engines stop).
  closeAll(): void {
    for (const stream of [...this.#streams.values()]) this.#close(stream);
  }

  #start(id: number, head: RequestHead): void {
    const headers: Record<string, string> = {};
    for (const [name, value] of head.headers) {
      const key = name.toLowerCase();
      if (!HOP_BY_HOP_HEADERS.has(key)) headers[key] = value;
    }
    const req = http.request({
      host: this.#target.host,
      port: this.#target.port,
      method: head.method,
      path: head.path,
      headers,
      agent,
    });
    const stream: Stream = {
      id,
      req,
      res: undefined,
      send: new SendWindow(),
      recv: new ReceiveWindow(),
      sendSeq: 0,
      order: new InOrder(),
      pending: [],
      ended: false,
      done: false,
    };
    this.#streams.set(id, stream);
    req.on('error', (err) => this.#abort(stream, `the daemon's listener failed: ${err.message}`));
    req.on('response', (res) => {
      stream.res = res;
      const responseHeaders: [string, string][] = [];
      for (const [name, value] of Object.entries(res.headers)) {
        if (value === undefined || HOP_BY_HOP_HEADERS.has(name)) continue;
        for (const v of Array.isArray(value) ? value : [value]) responseHeaders.push([name, v]);
      }
      this.#frame({
        type: 'response',
        stream: id,
        head: { status: res.statusCode ?? 502, headers: responseHeaders },
      });
      res.on('data', (chunk: Buffer) => {
        if (stream.done || chunk.byteLength === 0) return;
        stream.pending.push(chunk);
        this.#flush(stream);
      });
      res.once('end', () => {
        if (stream.done) return;
        stream.pending.push(END);
        this.#flush(stream);
      });
      res.once('aborted', () => this.#abort(stream, 'the answer was cut off'));
      res.on('error', () => this.#abort(stream, 'the answer failed'));
    });
  }

  // Sends what the gateway's credit allows; pauses the answer while anything waits.
  #flush(stream: Stream): void {
    while (!stream.done && stream.pending.length > 0) {
      const chunk = stream.pending[0];
      if (chunk === undefined) break;
      if (chunk === END) {
        this.#frame({ type: 'end', stream: stream.id, seq: stream.sendSeq++ });
        this.#finish(stream);
        return;
      }
      const n = stream.send.take(chunk.byteLength);
      if (n === 0) break;
      this.#frame({
        type: 'data',
        stream: stream.id,
        seq: stream.sendSeq++,
        data: chunk.subarray(0, n),
      });
      if (n === chunk.byteLength) stream.pending.shift();
      else stream.pending[0] = chunk.subarray(n);
    }
    if (stream.done) return;
    if (stream.pending.length > 0) stream.res?.pause();
    else stream.res?.resume();
  }

  #frame(frame: Frame): void {
    try {
      this.#send(encodeFrame(frame));
    } catch {
      // The socket is closing; closeAll() ends the streams.
    }
  }

  #abort(stream: Stream, reason: string): void {
    if (stream.done) return;
    this.#frame({ type: 'abort', stream: stream.id, reason });
    this.#close(stream);
  }

  #close(stream: Stream): void {
    if (stream.done) return;
    this.#finish(stream);
    stream.res?.destroy();
    stream.req.destroy();
  }

  #finish(stream: Stream): void {
    stream.done = true;
    stream.pending = [];
    if (this.#streams.get(stream.id) === stream) this.#streams.delete(stream.id);
  }
}
