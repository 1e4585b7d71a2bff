// Request bodies, read whole up to a limit. A body over the limit gets its 413 in a way the
// sender actually receives: the rest of the body is read and dropped (within bounds) so the
// answer goes out on a connection that stays usable; past those bounds the 413 goes out
// with `connection: close` and a lingering close. Closing a socket with unread bytes in its
// receive buffer makes the kernel send a reset, which can destroy the 413 before the
// sender reads it (the gateway would then see a connection error and try elsewhere).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NODE_MAX_BODY_BYTES } from '../../../schema/contracts.ts';
import { HttpError } from './errors.ts';

export interface BodyLimits {
  // Largest body read into memory, in bytes. Default NODE_MAX_BODY_BYTES (schema/contracts.ts).
  maxBytes?: number;
  // Over maxBytes, how many more bytes are read and dropped before the 413 goes out on a
  // connection that stays open. Default 64 MiB.
  discardBytes?: number;
  // ...and for how long, in ms. Default 30 s.
  discardMs?: number;
  // After a 413 with `connection: close`, how long what still arrives is read and dropped
  // before the socket is destroyed, in ms. Default 5 s.
  lingerMs?: number;
}

const DEFAULTS: Required<BodyLimits> = {
  maxBytes: NODE_MAX_BODY_BYTES,
  discardBytes: 64 * 1024 * 1024,
  discardMs: 30_000,
  lingerMs: 5000,
};

export class BodyTooLarge extends HttpError {
  constructor(
    limit: number,
    // The rest of the body was not read: the connection cannot carry another request.
    readonly closeConnection: boolean,
  ) {
    super(
      413,
      'invalid_request_error',
      `request body is larger than this node's limit of ${limit} bytes`,
      'request_too_large',
    );
  }
}

export function bodyLimits(limits: BodyLimits = {}): Required<BodyLimits> {
  return { ...DEFAULTS, ...limits };
}

// Resolves with the whole body, or rejects with BodyTooLarge once the body is known to be
// over the limit and, within the discard bounds, has been read to its end.
export function readBody(req: IncomingMessage, limits: Required<BodyLimits>): Promise<Buffer> {
  const { maxBytes, discardBytes } = limits;
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + discardBytes) {
    return Promise.reject(new BodyTooLarge(maxBytes, true));
  }
  return new Promise((resolve, reject) => {
    const read = new BodyRead(req, limits, resolve, reject);
    // A declared length over the limit: no byte of it is kept.
    if (Number.isFinite(declared) && declared > maxBytes) read.discard();
  });
}

// One body being read. Its listeners are set in the constructor rather than named closures:
// through tsx, which keeps function names, each of those costs a defineProperty per request.
class BodyRead {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private discarding = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly onData: (chunk: Buffer) => void;
  private readonly onEnd: () => void;
  private readonly onError: (err: Error) => void;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limits: Required<BodyLimits>,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (err: Error) => void,
  ) {
    this.onData = (chunk) => this.data(chunk);
    this.onEnd = () => {
      if (this.discarding) this.tooLarge(false);
      else {
        this.settle();
        this.resolve(Buffer.concat(this.chunks));
      }
    };
    this.onError = (err) => {
      this.settle();
      this.reject(err);
    };
    req.on('data', this.onData);
    req.on('end', this.onEnd);
    req.on('error', this.onError);
  }

  discard(): void {
    this.discarding = true;
    this.chunks.length = 0;
    this.timer = setTimeout(() => this.tooLarge(true), this.limits.discardMs);
  }

  private data(chunk: Buffer): void {
    const { maxBytes, discardBytes } = this.limits;
    this.size += chunk.length;
    if (!this.discarding && this.size > maxBytes) this.discard();
    if (this.discarding) {
      if (this.size > maxBytes + discardBytes) this.tooLarge(true);
      return;
    }
    this.chunks.push(chunk);
  }

  private tooLarge(close: boolean): void {
    this.settle();
    this.reject(new BodyTooLarge(this.limits.maxBytes, close));
  }

  private settle(): void {
    clearTimeout(this.timer);
    this.req.off('data', this.onData);
    this.req.off('end', this.onEnd);
    this.req.off('error', this.onError);
  }
}

// Prepares `res` to be the connection's last answer with a lingering close: Node's server
// ends a `connection: close` answer with socket.destroySoon(), which closes at once; here it
// half-closes instead (the answer and a FIN go out), keeps reading and dropping what the
// sender still sends, and destroys the socket when the sender closes or lingerMs passed.
export function lingeringClose(
  req: IncomingMessage,
  res: ServerResponse,
  limits: Required<BodyLimits>,
): void {
  res.setHeader('connection', 'close');
  const socket = res.socket;
  if (!socket) return;
  socket.destroySoon = function lingeringDestroySoon() {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), limits.lingerMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
  // Whatever still arrives flows through the request and is dropped.
  req.resume();
}
