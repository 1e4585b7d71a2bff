// The daemon's HTTP server: health (/healthz, /readyz), Prometheus /metrics, the /v1 data
// plane (gateway JWT required) and the engine logs the gateway's admin API reads.
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { Supervisor } from '../control/supervisor.ts';
import type { Logger } from '../log.ts';
import { dataPlaneAccessLog, noteVerifiedClaims } from './access-log.ts';
import type { DataPlaneVerifier } from './auth.ts';
import { bodyLimits, type BodyLimits } from './body.ts';
import { HttpError, sendError, sendJson } from './errors.ts';
import { engineLogs, FollowGate, LOGS_PATH } from './logs.ts';
import { renderMetrics, type MetricsSnapshot } from './metrics.ts';
import { proxyRequest } from './proxy.ts';
import { requestPath } from './target.ts';

export interface ServerDeps {
  supervisor: Supervisor;
  verifier: DataPlaneVerifier;
  // Whether a heartbeat succeeded recently.
  registered: () => boolean;
  snapshot: () => MetricsSnapshot;
  log: Logger;
  // Request body limits of the data plane (body.ts); defaults there.
  bodyLimits?: BodyLimits;
}

export function createNodeServer(deps: ServerDeps): Server {
  const limits = bodyLimits(deps.bodyLimits);
  const logAccess = dataPlaneAccessLog();
  const follows = new FollowGate();
  const server = http.createServer((req, res) => {
    const path = requestPath(req.url ?? '/');
    logAccess?.(req, res, path);
    handle(deps, limits, follows, req, res, path).catch((err: unknown) => {
      if (err instanceof HttpError) {
        sendError(res, err);
        return;
      }
      deps.log.error(`request ${req.method ?? ''} ${req.url ?? ''} failed: ${String(err)}`);
      sendError(res, new HttpError(500, 'server_error', 'internal error in the node daemon'));
    });
  });
  // Generation can take minutes; the engine decides, not a server timeout.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 65_000;
  return server;
}

async function handle(
  deps: ServerDeps,
  limits: Required<BodyLimits>,
  follows: FollowGate,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  if (path === '/v1' || path.startsWith('/v1/')) {
    await dataPlane(deps, limits, req, res, path);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    throw new HttpError(
      404,
      'not_found_error',
      `no route for ${req.method ?? ''} ${path}`,
      'not_found',
    );
  }
  switch (path) {
    case '/healthz':
      sendJson(res, 200, { status: 'ok' });
      return;
    case '/readyz': {
      const registered = deps.registered();
      const notReady = deps.supervisor.notReady();
      const ready = registered && notReady.length === 0;
      sendJson(res, ready ? 200 : 503, {
        status: ready ? 'ready' : 'not_ready',
        registered,
        not_ready: notReady,
      });
      return;
    }
    case '/metrics': {
      const text = renderMetrics(deps.snapshot());
      res.writeHead(200, {
        'content-type': 'text/plain; version=0.0.4; charset=utf-8',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
  }
  const logs = LOGS_PATH.exec(path);
  if (logs?.[1]) {
    const { searchParams } = new URL(req.url ?? '/', 'http://node');
    await engineLogs({ ...deps, follows }, req, res, decodeURIComponent(logs[1]), searchParams);
    return;
  }
  throw new HttpError(404, 'not_found_error', `no route for GET ${path}`, 'not_found');
}

async function dataPlane(
  deps: ServerDeps,
  limits: Required<BodyLimits>,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  const claims = await deps.verifier.verify(req.headers.authorization, {
    method: req.method ?? '',
    path,
  });
  noteVerifiedClaims(req, claims);
  const target = deps.supervisor.route(claims.instance);
  if (!target) {
    throw new HttpError(
      404,
      'not_found_error',
      `instance '${claims.instance}' does not run on this node`,
      'instance_not_found',
    );
  }
  if (target.state !== 'ready' || !target.endpoint) {
    throw new HttpError(
      503,
      'service_unavailable',
      `instance '${claims.instance}' is ${target.state}${target.detail ? `: ${target.detail}` : ''}`,
      'instance_not_ready',
    );
  }
  const header = req.headers[REQUEST_ID_HEADER];
  const requestId = (Array.isArray(header) ? header[0] : header) ?? claims.jti;
  await proxyRequest(req, res, {
    endpoint: target.endpoint,
    requestId,
    onDone: target.begin(),
    onProgress() {
      target.progress();
    },
    bodyLimits: limits,
  });
}

export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
