// One access-log line format for the gateway and the node daemon, so that one log pipeline
// reads both: the fields as JSON (or as an object on Workers), or as one text line. Never a
// body, a header value or a secret.

export type AccessLogFormat = 'json' | 'text' | 'off';
export const ACCESS_LOG_FORMATS: readonly AccessLogFormat[] = ['json', 'text', 'off'];

export interface AccessLogEntry {
  // When the request arrived (ISO 8601, UTC).
  time: string;
  request_id: string;
  // The client's own id, when it sent a sane one (x-client-request-id / x-request-id).
  client_request_id: string | null;
  method: string;
  // Without the query string.
  path: string;
  status: number;
  // Until the last byte of the answer (streams: the end of the stream).
  latency_ms: number;
  // Streams only: until the first generated token reached the gateway.
  ttft_ms: number | null;
  key_id: string | null;
  model: string | null;
  node_id: string | null;
  instance_id: string | null;
  // The request body's declared size (content-length), when it had one.
  bytes_in: number | null;
  // The answer's size: counted for streams, content-length otherwise, null when unknown.
  bytes_out: number | null;
  // ok | error (refused or failed in the gateway) | upstream_error | client_aborted
  outcome: string;
  error_code: string | null;
}

const orDash = (v: string | number | null) => (v === null ? '-' : String(v));

// `time request_id method path status latency ...key=value`, for people reading a terminal.
export function formatAccessLogText(e: AccessLogEntry): string {
  return [
    e.time,
    e.request_id,
    e.method,
    e.path,
    String(e.status),
    `${e.latency_ms}ms`,
    `ttft=${e.ttft_ms === null ? '-' : `${e.ttft_ms}ms`}`,
    `key=${orDash(e.key_id)}`,
    `model=${orDash(e.model)}`,
    `node=${orDash(e.node_id)}`,
    `instance=${orDash(e.instance_id)}`,
    `in=${orDash(e.bytes_in)}`,
    `out=${orDash(e.bytes_out)}`,
    `outcome=${e.outcome}`,
    `error=${orDash(e.error_code)}`,
    `client_id=${orDash(e.client_request_id)}`,
  ].join(' ');
}
