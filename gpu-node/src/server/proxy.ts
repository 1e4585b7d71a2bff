// Forwards one data-plane request to a local engine and streams both directions without
// buffering (SSE chunks reach the gateway as the engine writes them). When the client goes
// away, the upstream request is destroyed so the engine stops generating.
import http, {
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { urlToHttpOptions } from 'node:url';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { EngineEndpoint } from '../recipes/types.ts';
import { BodyTooLarge, lingeringClose, readBody, type BodyLimits } from './body.ts';
import { HttpError, sendError } from './errors.ts';
import { engineOrigin, upstreamPath, type EngineOrigin } from './target.ts';

const MAX_STALE_SOCKET_RETRIES = 2;

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

// LIFO, as the bare pass-through (test/bench/floor.ts): the connections used last are the
// warm ones, and those left idle are the ones the engine's idle timer closes.
const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1024, scheduling: 'lifo' });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 1024, scheduling: 'lifo' });

// How long an answer's headers may wait for the first piece of its body, in ms. Headers
// normally leave with that piece, in one write, as a bare pass-through sends them (a write
// of its own per answer cost the daemon about a twentieth of its CPU); an engine slow to
// start its body (a long prefill, a full queue) gets them sent alone after this, so that
// whoever waits for the headers (a proxy's header timeout) is not kept waiting for the first
// token. The gateway itself waits for the first content either way.
export const HEADER_FLUSH_MS = 1000;

// An endpoint's origin, parsed once (endpoints live as long as their engine runs), with its
// own headers lower-cased as they are sent.
interface Upstream {
  baseUrl: string;
  origin: EngineOrigin;
  headers: [string, string][];
}
const upstreams = new WeakMap<EngineEndpoint, Upstream>();

function upstreamOf(endpoint: EngineEndpoint): Upstream {
  let upstream = upstreams.get(endpoint);
  if (upstream?.baseUrl !== endpoint.baseUrl) {
    upstream = {
      baseUrl: endpoint.baseUrl,
      origin: engineOrigin(endpoint.baseUrl),
      headers: Object.entries(endpoint.headers).map(([name, value]) => [name.toLowerCase(), value]),
    };
    upstreams.set(endpoint, upstream);
  }
  return upstream;
}

// `http.request` options for a request target: the endpoint's origin taken apart once, or
// where the target is not plain, the URL parser's reading of base and target, as before.
function requestOptions(upstream: Upstream, rawUrl: string): RequestOptions {
  const { origin } = upstream;
  const path = upstreamPath(origin, rawUrl);
  if (path === undefined) return urlToHttpOptions(new URL(`${upstream.baseUrl}${rawUrl}`));
  const options: RequestOptions = { protocol: origin.protocol, hostname: origin.hostname, path };
  if (origin.port !== undefined) options.port = origin.port;
  if (origin.auth !== undefined) options.auth = origin.auth;
  return options;
}

function forwardHeaders(
  req: IncomingMessage,
  upstream: Upstream,
  requestId: string,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const from = req.headers;
  for (const name in from) {
    // The gateway's JWT is for this node only, never for the engine.
    if (HOP_BY_HOP.has(name) || name === 'authorization') continue;
    const value = from[name];
    if (value !== undefined) headers[name] = value;
  }
  for (const [name, value] of upstream.headers) headers[name] = value;
  headers[REQUEST_ID_HEADER] = requestId;
  return headers;
}

function responseHeaders(upstream: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  const from = upstream.headers;
  for (const name in from) {
    if (HOP_BY_HOP.has(name)) continue;
    const value = from[name];
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}

// The engine knows the model under another name: replace `model` in a JSON body.
function rewriteModel(body: Buffer, servedModelName: string): Buffer {
  if (body.length === 0) return body;
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    if (json && typeof json === 'object' && !Array.isArray(json) && 'model' in json) {
      return Buffer.from(JSON.stringify({ ...json, model: servedModelName }));
    }
  } catch {
    // Not JSON: the engine answers it as it would anyway.
  }
  return body;
}

export interface ProxyOptions {
  endpoint: EngineEndpoint;
  requestId: string;
  // Called once when the exchange ends, however it ends.
  onDone: () => void;
  // Called on the engine's answer headers and on each piece of its body (the hung-engine
  // watchdog's sign of life).
  onProgress?: () => void;
  // Request bodies are read whole (to rewrite served_model_name, and to send a request
  // again after a stale keep-alive connection), up to these limits (body.ts).
  bodyLimits: Required<BodyLimits>;
  // How long the answer's headers wait for the first piece of its body, in ms. Default
  // HEADER_FLUSH_MS.
  headerFlushMs?: number;
}

export async function proxyRequest(
  req: IncomingMessage,
  res: ServerResponse,
  opts: ProxyOptions,
): Promise<void> {
  const { endpoint } = opts;
  const exchange = new Exchange(res, opts);
  res.once('close', () => exchange.clientClosed());

  const upstream = upstreamOf(endpoint);
  const options = requestOptions(upstream, req.url ?? '/');
  const headers = forwardHeaders(req, upstream, opts.requestId);

  // Request bodies are small JSON and are read whole, so a request can be sent again when an
  // idle keep-alive connection turns out to be closed by the engine (Exchange.send).
  let body: Buffer | undefined;
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
  if (hasBody) {
    try {
      body = await readBody(req, opts.bodyLimits);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        if (err.closeConnection) lingeringClose(req, res, opts.bodyLimits);
        sendError(res, err);
      } else {
        res.destroy();
      }
      exchange.done();
      return;
    }
    const { servedModelName } = endpoint;
    if (servedModelName && /application\/json/i.test(req.headers['content-type'] ?? '')) {
      body = rewriteModel(body, servedModelName);
    }
    delete headers['transfer-encoding'];
    headers['content-length'] = String(body.length);
  }

  options.agent = options.protocol === 'https:' ? httpsAgent : httpAgent;
  options.method = req.method;
  options.headers = headers;
  // Gone while its body was read: nothing to ask the engine.
  if (res.destroyed) return;
  exchange.send(options, body, 0);
}

// One request's way to the engine and back: its attempts (a stale connection's is replaced),
// the relay of the answer, and its end. Methods and unnamed callbacks rather than named
// closures: through tsx, which keeps function names, each of those costs a defineProperty
// per request.
class Exchange {
  private finished = false;
  // The request of the current attempt, once sent.
  private current: ClientRequest | undefined;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly opts: ProxyOptions,
  ) {}

  // Once, however the exchange ends.
  done(): void {
    if (this.finished) return;
    this.finished = true;
    this.opts.onDone();
  }

  clientClosed(): void {
    clearTimeout(this.flushTimer);
    // The client left (or the gateway gave up): stop the engine's work too.
    if (this.current && !this.res.writableFinished) this.current.destroy();
    this.done();
  }

  send(options: RequestOptions, body: Buffer | undefined, attempt: number): void {
    const { res } = this;
    const upstreamReq = (options.protocol === 'https:' ? https : http).request(options);
    this.current = upstreamReq;

    upstreamReq.once('response', (answer) => {
      this.opts.onProgress?.();
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, responseHeaders(answer));
      this.relay(answer);
    });

    upstreamReq.once('error', (err: NodeJS.ErrnoException) => {
      // An engine closes idle keep-alive connections on its own clock (uvicorn: 5 s); a
      // request that raced that close was never read, so it is safe to send again on a new
      // connection (the pattern Node's http docs give for `reusedSocket`).
      if (
        upstreamReq.reusedSocket &&
        err.code === 'ECONNRESET' &&
        attempt < MAX_STALE_SOCKET_RETRIES &&
        !res.headersSent &&
        !res.destroyed
      ) {
        this.send(options, body, attempt + 1);
        return;
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (res.destroyed) return;
      sendError(
        res,
        new HttpError(
          502,
          'server_error',
          `engine unreachable: ${err.message}`,
          'engine_unreachable',
        ),
      );
    });

    upstreamReq.end(body);
  }

  // The engine's body to the client as it comes, with backpressure; the headers leave with
  // its first piece, or alone after headerFlushMs (HEADER_FLUSH_MS).
  private relay(answer: IncomingMessage): void {
    const { res, opts } = this;
    this.flushTimer = setTimeout(() => {
      if (!res.destroyed) res.flushHeaders();
    }, opts.headerFlushMs ?? HEADER_FLUSH_MS);
    // One listener for the watchdog and the write: an event with two copies its listeners.
    answer.on('data', (chunk: Buffer) => {
      if (this.flushTimer) {
        clearTimeout(this.flushTimer);
        this.flushTimer = undefined;
      }
      opts.onProgress?.();
      if (!res.write(chunk)) answer.pause();
    });
    res.on('drain', () => answer.resume());
    answer.once('end', () => {
      clearTimeout(this.flushTimer);
      res.end();
    });
    answer.once('error', () => res.destroy());
    answer.once('aborted', () => res.destroy());
  }
}
