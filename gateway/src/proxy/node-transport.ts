// The Node host's NodeTransport: node:http(s) with keep-alive agents instead of the global
// fetch. Same contract as directTransport (a Web Response, redirects answered and never
// followed, the signal aborting the call), at a fraction of fetch's CPU per request and per
// streamed chunk, which is what the gateway spends its time on under many streams. open()
// hands over the IncomingMessage itself, so a streamed answer is relayed without any Web
// stream (relay-node.ts). Node only: the Worker host keeps directTransport.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { NodeAnswer, NodeTransport } from '../types.ts';

// Unlimited sockets per node, as with fetch: a stream holds its socket for the whole answer,
// so a cap would queue requests behind long generations. LIFO reuse keeps the warm ones busy.
const httpAgent = new http.Agent({ keepAlive: true, scheduling: 'lifo' });
const httpsAgent = new https.Agent({ keepAlive: true, scheduling: 'lifo' });

// Connecting to a node (TCP, and TLS for https) may take this long by default; then the
// call fails with NodeConnectTimeoutError and forward() tries another instance. Without it an
// unreachable node holds each request for the OS connect timeout (minutes).
export const NODE_CONNECT_TIMEOUT_MS = 3000;

export class NodeConnectTimeoutError extends Error {
  override readonly name = 'NodeConnectTimeoutError';
  readonly code = 'node_connect_timeout';
}

// Statuses whose Response must have a null body.
const NULL_BODY = new Set([101, 204, 205, 304]);

function requestHeaders(init: HeadersInit | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (init === undefined) return out;
  if (init instanceof Headers || Array.isArray(init)) {
    for (const [name, value] of new Headers(init)) out[name] = value;
    return out;
  }
  for (const [name, value] of Object.entries(init)) out[name.toLowerCase()] = value;
  return out;
}

function responseHeaders(raw: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  return headers;
}

// The response body as a Web stream, paused while the reader is not asking for more (so a
// slow client slows the node down rather than filling the gateway's memory).
function bodyStream(res: IncomingMessage): ReadableStream<Uint8Array> {
  let open = true;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (err: Error) => {
        if (!open) return;
        open = false;
        controller.error(err);
      };
      res.on('data', (chunk: Buffer) => {
        if (!open) return;
        controller.enqueue(chunk);
        if ((controller.desiredSize ?? 0) <= 0) res.pause();
      });
      res.once('end', () => {
        if (!open) return;
        open = false;
        controller.close();
      });
      res.once('error', fail);
      res.once('aborted', () => {
        fail(new Error('the node closed the connection mid-answer'));
      });
    },
    pull() {
      res.resume();
    },
    cancel() {
      open = false;
      res.destroy();
    },
  });
}

// The signal destroys the request, as http.request's own `signal` option does, but the
// listener is never removed: each call has a signal of its own that dies with it, and
// node:http's removal when the request ends (EventTarget's, linear in its listeners) was a
// measurable part of the gateway's time per request.
function abortWith(req: http.ClientRequest, signal: AbortSignal): void {
  const abort = () => {
    req.destroy(new DOMException('the request to the node was aborted', 'AbortError'));
  };
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
}

export interface NodeHttpTransportOptions {
  // Longest wait for a new connection to a node, in ms. Default NODE_CONNECT_TIMEOUT_MS.
  connectTimeoutMs?: number;
}

// Fails the request when a new socket has not connected within ms; a reused keep-alive
// socket is already connected and has no such wait.
function boundConnect(req: http.ClientRequest, secure: boolean, host: string, ms: number) {
  req.once('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      req.destroy(
        new NodeConnectTimeoutError(`connect timeout: ${host} did not accept within ${ms} ms`),
      );
    }, ms);
    socket.once(secure ? 'secureConnect' : 'connect', () => clearTimeout(timer));
    socket.once('close', () => clearTimeout(timer));
  });
}

export function createNodeHttpTransport(options: NodeHttpTransportOptions = {}): NodeTransport {
  const connectTimeoutMs = options.connectTimeoutMs ?? NODE_CONNECT_TIMEOUT_MS;
  if (!Number.isSafeInteger(connectTimeoutMs) || connectTimeoutMs <= 0) {
    throw new Error(`nodeHttpTransport: connectTimeoutMs must be a positive integer`);
  }
  return {
    fetch: async (node, path, init) =>
      (await send(node, path, init, connectTimeoutMs)).toResponse(),
    open: (node, path, init) => send(node, path, init, connectTimeoutMs),
  };
}

function answerOf(res: IncomingMessage, method: string | undefined): NodeAnswer {
  const status = res.statusCode ?? 0;
  return {
    status,
    header: (name) => {
      const value = res.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: res,
    toResponse: () => {
      const nullBody = NULL_BODY.has(status) || method === 'HEAD';
      if (nullBody) res.resume();
      return new Response(nullBody ? null : bodyStream(res), {
        status,
        statusText: res.statusMessage ?? '',
        headers: responseHeaders(res.headers),
      });
    },
  };
}

function send(
  node: { id: string; advertiseUrl: string },
  path: string,
  init: RequestInit & { signal: AbortSignal },
  connectTimeoutMs: number,
): Promise<NodeAnswer> {
  const base = node.advertiseUrl.endsWith('/') ? node.advertiseUrl.slice(0, -1) : node.advertiseUrl;
  const url = new URL(`${base}${path}`);
  const secure = url.protocol === 'https:';
  const body = init.body;
  // Strings (JSON), or a stream piped through as it arrives (uploads, sent chunked).
  const stream = body instanceof ReadableStream ? (body as ReadableStream<Uint8Array>) : null;
  if (body !== undefined && body !== null && typeof body !== 'string' && !stream) {
    return Promise.reject(new TypeError('nodeHttpTransport sends strings and streams only'));
  }
  return new Promise<NodeAnswer>((resolve, reject) => {
    const headers = requestHeaders(init.headers);
    if (typeof body === 'string') headers['content-length'] = String(Buffer.byteLength(body));
    const req = (secure ? https : http).request(url, {
      method: init.method ?? 'GET',
      headers,
      agent: secure ? httpsAgent : httpAgent,
    });
    abortWith(req, init.signal);
    boundConnect(req, secure, url.host, connectTimeoutMs);
    req.once('error', reject);
    req.once('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) {
        res.destroy();
        reject(new Error(`the node answered with HTTP status ${status}`));
        return;
      }
      // After the response, failures reach the reader through the body.
      req.off('error', reject);
      req.on('error', () => undefined);
      resolve(answerOf(res, init.method));
    });
    if (stream) pipeBody(stream, req);
    else req.end(typeof body === 'string' ? body : undefined);
  });
}

// Writes a stream body with backpressure; a failing source (the client's upload cut off or
// over its limit) fails the request.
function pipeBody(stream: ReadableStream<Uint8Array>, req: http.ClientRequest): void {
  const reader = stream.getReader();
  const pump = async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        req.end();
        return;
      }
      if (!req.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            req.off('close', go);
            req.off('drain', go);
            resolve();
          };
          req.once('drain', go);
          req.once('close', go);
        });
      }
      if (req.destroyed) {
        await reader.cancel(new Error('the request to the node ended'));
        return;
      }
    }
  };
  pump().catch((err: unknown) => {
    req.destroy(err instanceof Error ? err : new Error(String(err)));
  });
}

export const nodeHttpTransport: NodeTransport = createNodeHttpTransport();
