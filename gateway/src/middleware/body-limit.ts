// Refuses request bodies over the configured size with 413 in OpenAI's error shape, and
// reads nothing on its own: a body is counted only as a handler reads it, so the checks
// that need only headers (the API key, the admin token, the node secret) come first and an
// unauthenticated client cannot make the gateway take in a large upload. A declared
// Content-Length over the limit is refused at once; one within the limit needs no counting
// (the host's HTTP parser ends the body where the header says, on both hosts), so the
// request passes untouched, and on the Node host it is read straight from the socket
// (node-body.ts). Only a body of unknown length (chunked) is read through a counting stream.
//
// A 413 is sent only after the rest of the body was read and discarded, within bounds
// (drainBytes, drainMs): a server that answers while the client is still sending and then
// closes makes the client's TCP stack see a reset, and most clients then report a
// connection error instead of the 413. Within the bounds the connection stays usable;
// beyond them the answer says `connection: close`, and on the Node host the socket lingers
// (half-closed, still discarding what arrives) before it is destroyed, so the answer is not
// lost to a reset either.
import type { MiddlewareHandler } from 'hono';
import { ApiError, payloadTooLarge } from '../errors.ts';
import type { AppEnv } from '../types.ts';
import { readNodeBodyOnDemand } from './node-body.ts';

export interface BodyLimitOptions {
  // Largest request body, in bytes.
  maxBytes: number;
  // Paths with a bound of their own (uploads streamed through), in bytes.
  maxBytesByPath?: Readonly<Record<string, number>>;
  // After a body passed its bound, up to this many more bytes are read and thrown away so
  // the 413 goes out on a connection that stays usable. Default max(16 MiB, the bound).
  drainBytes?: number;
  // ... for at most this long, in ms. Default 5000.
  drainMs?: number;
  // On the Node host, how long a connection closed beyond the bounds keeps discarding what
  // the client still sends before it is destroyed, in ms. Default 2000.
  lingerMs?: number;
}

const DEFAULT_DRAIN_BYTES = 16 * 1024 * 1024;
const DEFAULT_DRAIN_MS = 5000;
const DEFAULT_LINGER_MS = 2000;
// A Content-Length the parsers accept (digits only), short of unsafe integers.
const DECIMAL = /^\d{1,15}$/;

function tooLarge(maxBytes: number, close: boolean): ApiError {
  const error = payloadTooLarge(maxBytes);
  return new ApiError(error.status, error.type, error.message, error.code, error.param, {
    headers: close ? { connection: 'close' } : {},
  });
}

// Reads and discards what is left of a body, within the bounds. True when it all came.
async function drain(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  maxBytes: number,
  ms: number,
): Promise<boolean> {
  let read = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), ms);
  });
  try {
    for (;;) {
      const next = await Promise.race([reader.read(), expired]);
      if (next === 'expired') return false;
      if (next.done) return true;
      read += next.value.byteLength;
      if (read > maxBytes) return false;
    }
  } catch {
    // The client went away: nobody is left to confuse with a reset.
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// The Node host's socket, as @hono/node-server hands it over in c.env.incoming; typed by
// what is used so this module stays free of Node imports (the Worker has no sockets).
interface LingeringSocket {
  destroySoon?: () => void;
  end(): void;
  destroy(): void;
  resume(): void;
  once(event: 'close', listener: () => void): void;
}

function nodeSocket(env: unknown): LingeringSocket | undefined {
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined;
  const incoming = env.incoming;
  if (typeof incoming !== 'object' || incoming === null || !('socket' in incoming)) {
    return undefined;
  }
  const socket = incoming.socket;
  const usable =
    typeof socket === 'object' &&
    socket !== null &&
    'end' in socket &&
    typeof socket.end === 'function' &&
    'destroy' in socket &&
    typeof socket.destroy === 'function' &&
    'resume' in socket &&
    typeof socket.resume === 'function' &&
    'once' in socket &&
    typeof socket.once === 'function';
  // Checked above member by member; the signatures are net.Socket's.
  return usable ? (socket as LingeringSocket) : undefined;
}

// Node's HTTP server ends a `connection: close` response with socket.destroySoon(): FIN,
// then destroy, with the client's unsent body still arriving, which the kernel answers
// with a reset that can wipe the 413 from the client's receive buffer. Instead: FIN, keep
// reading and discarding, destroy when the client closes or after lingerMs.
function lingerOnClose(socket: LingeringSocket, lingerMs: number): void {
  socket.destroySoon = () => {
    socket.end();
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    if (typeof timer === 'object' && 'unref' in timer) timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };
}

export function bodyLimit(options: BodyLimitOptions): MiddlewareHandler<AppEnv> {
  const byPath = options.maxBytesByPath ?? {};
  const drainMs = options.drainMs ?? DEFAULT_DRAIN_MS;
  const lingerMs = options.lingerMs ?? DEFAULT_LINGER_MS;
  const bounds: Record<string, number | undefined> = {
    maxBytes: options.maxBytes,
    ...byPath,
    drainBytes: options.drainBytes,
    drainMs,
    lingerMs,
  };
  for (const [name, value] of Object.entries(bounds)) {
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new Error(`bodyLimit: ${name} must be a positive integer, got ${value}`);
    }
  }

  return async function bodyLimitMiddleware(c, next) {
    // No handler reads the body of these. Asked first, so that they (and a body of declared
    // length within the limit, below) never make the Node host build its Web Request.
    const method = c.req.method;
    if (method === 'GET' || method === 'HEAD') return next();
    const maxBytes = byPath[c.req.path] ?? options.maxBytes;
    const length = c.req.header('content-length');
    const declared =
      length !== undefined &&
      DECIMAL.test(length) &&
      c.req.header('transfer-encoding') === undefined
        ? Number(length)
        : undefined;
    if (declared !== undefined && declared <= maxBytes) {
      readNodeBodyOnDemand(c, declared);
      return next();
    }
    const body = c.req.raw.body;
    if (body === null) return next();
    const drainBytes = options.drainBytes ?? Math.max(DEFAULT_DRAIN_BYTES, maxBytes);
    const reader = body.getReader();
    // Refuses with 413 once the rest of the body is drained, or with a lingering close.
    const refuse = async (): Promise<ApiError> => {
      const drained = await drain(reader, drainBytes, drainMs);
      if (!drained) {
        const socket = nodeSocket(c.env);
        if (socket) lingerOnClose(socket, lingerMs);
      }
      return tooLarge(maxBytes, !drained);
    };

    if (declared !== undefined && declared > maxBytes) {
      if (declared > maxBytes + drainBytes) {
        // Not worth reading: close at once (lingering on the Node host).
        const socket = nodeSocket(c.env);
        if (socket) lingerOnClose(socket, lingerMs);
        throw tooLarge(maxBytes, true);
      }
      throw await refuse();
    }

    let size = 0;
    let refused: ApiError | undefined;
    const counted = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          return;
        }
        size += value.byteLength;
        if (size > maxBytes) {
          refused = await refuse();
          controller.error(refused);
          return;
        }
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    });
    // Node's fetch needs `duplex` for a stream body; workerd ignores it.
    const init: RequestInit & { duplex: 'half' } = { body: counted, duplex: 'half' };
    c.req.raw = new Request(c.req.raw, init);
    await next();
    // A handler that turned the failed read into some other answer still gets the 413.
    if (refused && c.res.status !== 413) {
      const headers = new Headers(c.res.headers);
      headers.set('content-type', 'application/json');
      for (const [name, value] of Object.entries(refused.headers ?? {})) headers.set(name, value);
      c.res = new Response(JSON.stringify(refused.body()), { status: 413, headers });
    }
  };
}
