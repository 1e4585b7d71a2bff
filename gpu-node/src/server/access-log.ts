// The daemon's access log: one line per data-plane request (/v1/...), in the gateway's
// format (schema/access-log.ts) and under the same setting, FLEETGATE_ACCESS_LOG (json, the
// default; text; off). Written when the answer is over (a stream's end, or the gateway
// hanging up). The request's instance, model and node come from the gateway's JWT, read
// only once the server accepted it (a status below 400); nothing else of a request is kept.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt } from 'jose';
import {
  ACCESS_LOG_FORMATS,
  formatAccessLogText,
  type AccessLogEntry,
  type AccessLogFormat,
} from '../../../schema/access-log.ts';
import { lineBatch } from '../../../schema/log-lines.ts';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';

// `path`: the request target's path, as the server routed it (target.ts).
export type AccessLog = (req: IncomingMessage, res: ServerResponse, path: string) => void;

export interface LoggedClaims {
  node: string | null;
  instance: string | null;
  model: string | null;
}

// Claims of tokens the server verified, by request: the line takes them from here rather
// than decoding the token a second time.
const verified = new WeakMap<IncomingMessage, LoggedClaims>();

export function noteVerifiedClaims(
  req: IncomingMessage,
  claims: { aud: string; instance: string; model: string },
): void {
  verified.set(req, { node: claims.aud, instance: claims.instance, model: claims.model });
}

// Access-log lines to stdout; what is still queued is written when the process exits.
export function batchedStdout(): (line: string) => void {
  const batch = lineBatch((text) => process.stdout.write(text));
  process.once('exit', () => batch.flush());
  return (line) => batch.push(line);
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);

function parseFormat(raw: string | undefined): AccessLogFormat {
  const value = raw?.trim().toLowerCase() ?? '';
  if (value === '') return 'json';
  const format = ACCESS_LOG_FORMATS.find((f) => f === value);
  if (!format) {
    throw new Error(
      `FLEETGATE_ACCESS_LOG: must be one of ${ACCESS_LOG_FORMATS.join(', ')}, got '${value}'`,
    );
  }
  return format;
}

function claimsOf(authorization: string | undefined): LoggedClaims | undefined {
  const token = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
  if (!token) return undefined;
  try {
    const claims = decodeJwt(token);
    const text = (v: unknown) => (typeof v === 'string' ? v : null);
    return { node: text(claims.aud), instance: text(claims.instance), model: text(claims.model) };
  } catch {
    return undefined;
  }
}

// Undefined when the log is off. A bad setting throws at start, naming the variable.
export function dataPlaneAccessLog(
  setting: string | undefined = process.env.FLEETGATE_ACCESS_LOG,
  print?: (line: string) => void,
): AccessLog | undefined {
  const format = parseFormat(setting);
  if (format === 'off') return undefined;
  const write = print ?? batchedStdout();

  return function logDataPlane(req, res, path) {
    if (path !== '/v1' && !path.startsWith('/v1/')) return;
    const arrived = Date.now();
    const started = performance.now();
    const written = req.socket.bytesWritten;
    res.once('close', () => {
      const status = res.statusCode;
      const claims =
        status < 400 ? (verified.get(req) ?? claimsOf(req.headers.authorization)) : undefined;
      const length = one(req.headers['content-length']);
      const entry: AccessLogEntry = {
        time: new Date(arrived).toISOString(),
        request_id: one(req.headers[REQUEST_ID_HEADER]) ?? '-',
        client_request_id: null,
        method: req.method ?? '-',
        path,
        status,
        latency_ms: Math.round(performance.now() - started),
        ttft_ms: null,
        key_id: null,
        model: claims?.model ?? null,
        node_id: claims?.node ?? null,
        instance_id: claims?.instance ?? null,
        bytes_in: length !== undefined && /^\d+$/.test(length) ? Number(length) : null,
        // What went out on the connection for this answer, headers included.
        bytes_out: req.socket.bytesWritten - written,
        outcome: !res.writableFinished ? 'client_aborted' : status >= 400 ? 'error' : 'ok',
        error_code: null,
      };
      write(format === 'text' ? formatAccessLogText(entry) : JSON.stringify(entry));
    });
  };
}
