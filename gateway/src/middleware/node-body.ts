// On the Node host, a body of declared length is read straight from the request's
// IncomingMessage when a handler asks for it (c.req.text(), c.req.json(), ...), instead of
// through the Web Request that @hono/node-server builds on first use (a Headers copy, an
// AbortController, the socket wrapped as a Web stream, read chunk by chunk through it).
// Nothing is read before a handler asks, so the header checks (API key, admin token) still
// come first. The read is bounded by the declared length, which the HTTP parser enforces;
// more bytes than declared (which it would never deliver) fail the read all the same.
//
// It hands its result to Hono's body cache (HonoRequest.bodyCache, where c.req.text() and
// the other readers look first), so the handlers stay on Hono's API. A handler that reads
// c.req.raw instead (the streamed uploads) gets the untouched Web Request, as before.
import type { Context } from 'hono';

// The IncomingMessage that @hono/node-server puts in c.env.incoming, typed by what is used
// so this module stays free of Node imports (the Worker host has no IncomingMessage).
interface IncomingBody {
  readableDidRead: boolean;
  listenerCount(event: string): number;
  on(event: 'data', listener: (chunk: Uint8Array) => void): unknown;
  once(event: 'end' | 'close', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
}

function incomingOf(env: unknown): IncomingBody | undefined {
  if (typeof env !== 'object' || env === null || !('incoming' in env)) return undefined;
  const incoming = env.incoming;
  const usable =
    typeof incoming === 'object' &&
    incoming !== null &&
    'readableDidRead' in incoming &&
    incoming.readableDidRead === false &&
    'listenerCount' in incoming &&
    typeof incoming.listenerCount === 'function' &&
    'on' in incoming &&
    typeof incoming.on === 'function' &&
    'once' in incoming &&
    typeof incoming.once === 'function';
  // Checked above member by member; the signatures are stream.Readable's.
  return usable ? (incoming as IncomingBody) : undefined;
}

// The whole body, at most `length` bytes; fails when the client goes away first.
function readAll(incoming: IncomingBody, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    let ended = false;
    incoming.on('data', (chunk) => {
      size += chunk.byteLength;
      // Unreachable behind Node's HTTP parser; refused rather than trusted.
      if (size > length) reject(new Error('the request body is longer than its content-length'));
      else chunks.push(chunk);
    });
    incoming.once('end', () => {
      ended = true;
      const [first] = chunks;
      if (chunks.length === 1 && first) return resolve(first);
      const body = new Uint8Array(size);
      let at = 0;
      for (const chunk of chunks) {
        body.set(chunk, at);
        at += chunk.byteLength;
      }
      resolve(body);
    });
    incoming.once('error', reject);
    incoming.once('close', () => {
      if (!ended) reject(new Error('the client closed the connection before its body arrived'));
    });
  });
}

const utf8 = new TextDecoder();

// Installs the direct read for this request when the host is Node and nobody has read the
// body yet; true when installed.
export function readNodeBodyOnDemand(c: Context, declaredLength: number): boolean {
  const incoming = incomingOf(c.env);
  const cache = c.req.bodyCache;
  if (!incoming || incoming.listenerCount('data') > 0 || Object.keys(cache).length > 0) {
    return false;
  }
  let bytes: Promise<Uint8Array> | undefined;
  const read = () => (bytes ??= readAll(incoming, declaredLength));
  // Hono keeps promises in the cache (its types say values); the first enumerable entry is
  // also what its other readers (blob, formData) convert from, so bytes come first.
  Object.defineProperty(cache, 'arrayBuffer', {
    configurable: true,
    enumerable: true,
    get: () => read().then((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)),
  });
  Object.defineProperty(cache, 'text', {
    configurable: true,
    enumerable: true,
    get: () => read().then((b) => utf8.decode(b)),
  });
  return true;
}
