// Forwards one data-plane request to a local engine and streams both directions without
// buffering (SSE chunks reach the gateway as the engine writes them). When the client goes
// away, the upstream request is destroyed so the engine stops generating.
import http, {
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { EngineEndpoint } from '../recipes/types.ts';
import { BodyTooLarge, lingeringClose, readBody, type BodyLimits } from './body.ts';
import { HttpError, sendError } from './errors.ts';

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

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1024 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 1024 });

function forwardHeaders(
  req: IncomingMessage,
  endpoint: EngineEndpoint,
  requestId: string,
): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(req.headers)) {
    // The gateway's JWT is for this node only, never for the engine.
    if (value === undefined || HOP_BY_HOP.has(name) || name === 'authorization') continue;
    headers[name] = value;
  }
  for (const [name, value] of Object.entries(endpoint.headers)) headers[name.toLowerCase()] = value;
  headers[REQUEST_ID_HEADER] = requestId;
  return headers;
}

function responseHeaders(upstream: IncomingMessage): OutgoingHttpHeaders {
  const headers: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(upstream.headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    headers[name] = value;
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
}

export async function proxyRequest(
  req: IncomingMessage,
  res: ServerResponse,
  opts: ProxyOptions,
): Promise<void> {
  const { endpoint } = opts;
  let finished = false;
  const done = () => {
    if (finished) return;
    finished = true;
    opts.onDone();
  };
  res.once('close', done);

  const target = new URL(`${endpoint.baseUrl}${req.url ?? '/'}`);
  const headers = forwardHeaders(req, endpoint, opts.requestId);

  // Request bodies are small JSON and are read whole, so a request can be sent again when an
  // idle keep-alive connection turns out to be closed by the engine (below).
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
      done();
      return;
    }
    const isJson = /application\/json/i.test(req.headers['content-type'] ?? '');
    if (endpoint.servedModelName && isJson) body = rewriteModel(body, endpoint.servedModelName);
    delete headers['transfer-encoding'];
    headers['content-length'] = String(body.length);
  }

  const client = target.protocol === 'https:' ? https : http;
  const agent = target.protocol === 'https:' ? httpsAgent : httpAgent;

  const send = (attempt: number): void => {
    const upstreamReq = client.request(target, { method: req.method, headers, agent });

    // The client left (or the gateway gave up): stop the engine's work too.
    const onClientClose = () => {
      if (!res.writableFinished) upstreamReq.destroy();
    };
    res.once('close', onClientClose);

    upstreamReq.once('response', (upstream) => {
      const { onProgress } = opts;
      if (onProgress) {
        onProgress();
        upstream.on('data', onProgress);
      }
      res.writeHead(upstream.statusCode ?? 502, upstream.statusMessage, responseHeaders(upstream));
      // Send headers now: a streaming answer's first chunk may take a while.
      res.flushHeaders();
      upstream.pipe(res);
      upstream.once('error', () => res.destroy());
      upstream.once('aborted', () => res.destroy());
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
        res.off('close', onClientClose);
        send(attempt + 1);
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
  };
  send(0);
}
