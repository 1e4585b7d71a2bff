// One access-log line per request, written when the request is over: for a streamed answer
// that is when the stream ends (or the client hangs up), not when the headers go out. The
// line holds what the request learned on its way (the key's id, the model, the node and
// instance, time to first token, the outcome) and never a body, a header value or a secret.
//
// Proxied requests hand their usage meter and their settle promise to the context
// (c.var.meter, c.var.settled); everything else is read from the context and the response.
// They are read with c.get(): each c.var access makes Hono copy every variable of the
// request into a fresh object.
import type { Context, MiddlewareHandler } from 'hono';
import { runInBackground } from '../lib/background.ts';
import {
  formatAccessLogText,
  type AccessLogEntry,
  type AccessLogFormat,
} from '../../../schema/access-log.ts';
import type { AppEnv, AuthenticatedKey } from '../types.ts';

export { formatAccessLogText, type AccessLogEntry };

export type AccessLogWriter = (entry: AccessLogEntry) => void;

// 'lines': one JSON (or text) line on stdout, for the Node host and log shippers.
// 'objects': the entry itself to console.log, so Workers Logs indexes its fields.
export function accessLogWriter(
  format: AccessLogFormat,
  style: 'lines' | 'objects',
  // Looked up on each line, so a console replaced later (tests, log tooling) is used.
  print: (line: unknown) => void = (line) => console.log(line),
): AccessLogWriter | undefined {
  if (format === 'off') return undefined;
  if (format === 'text') return (e) => print(formatAccessLogText(e));
  return style === 'objects' ? (e) => print(e) : (e) => print(JSON.stringify(e));
}

const contentLength = (headers: Headers): number | null => {
  const raw = headers.get('content-length');
  return raw !== null && /^\d+$/.test(raw) ? Number(raw) : null;
};

// Passes a body through unchanged, counting its bytes; `ended` settles when it is read to
// the end, fails or is cancelled.
function countBytes(body: ReadableStream<Uint8Array>): {
  stream: ReadableStream<Uint8Array>;
  ended: Promise<number>;
} {
  const reader = body.getReader();
  let bytes = 0;
  let end: (n: number) => void = () => undefined;
  const ended = new Promise<number>((resolve) => {
    end = resolve;
  });
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          controller.close();
          end(bytes);
          return;
        }
        bytes += value.byteLength;
        controller.enqueue(value);
      } catch (err) {
        end(bytes);
        controller.error(err);
      }
    },
    async cancel(reason) {
      end(bytes);
      await reader.cancel(reason);
    },
  });
  return { stream, ended };
}

export interface AccessLogOptions {
  write: AccessLogWriter;
  // The request's time stamp (the app's clock). Default Date.now.
  now?: () => number;
}

export function accessLog(options: AccessLogOptions): MiddlewareHandler<AppEnv> {
  const { write } = options;
  if (typeof write !== 'function') throw new Error('accessLog: write must be a function');
  const now = options.now ?? Date.now;

  return async function accessLogMiddleware(c, next) {
    const arrived = now();
    const started = performance.now();
    await next();

    const emit = (bytesOut: number | null) => {
      try {
        write(entryFor(c, arrived, Math.round(performance.now() - started), bytesOut));
      } catch (err) {
        // A log that cannot be written must not fail the request.
        console.error('access log:', err instanceof Error ? err.message : err);
      }
    };
    const settled = c.get('settled');
    const meter = c.get('meter');
    const res = c.res;
    const streamed = res.headers.get('content-type')?.startsWith('text/event-stream') ?? false;
    if (streamed && settled && meter) {
      // A relayed stream: the relay counts what it sends, and settles once it is over.
      runInBackground(
        c,
        settled.then(() => emit(meter.bytesOut)),
        'access log',
      );
    } else if (streamed && res.body) {
      // (Asked in this order: on the Node host, res.body turns a plain answer into a Web
      // Response and its stream, which @hono/node-server then has to read back.)
      const counted = countBytes(res.body);
      c.res = new Response(counted.stream, res);
      const done = Promise.all([counted.ended, settled]).then(([bytes]) => emit(bytes));
      runInBackground(c, done, 'access log');
    } else if (settled) {
      runInBackground(
        c,
        settled.then(() => emit(contentLength(res.headers))),
        'access log',
      );
    } else {
      emit(contentLength(res.headers));
    }
  };
}

function entryFor(
  c: Context<AppEnv>,
  arrived: number,
  latencyMs: number,
  bytesOut: number | null,
): AccessLogEntry {
  const meter = c.get('meter');
  const usage = meter?.finish();
  // Set only behind API-key auth.
  const key: AuthenticatedKey | undefined = c.get('apiKey');
  const status = c.res.status;
  return {
    time: new Date(arrived).toISOString(),
    request_id: c.get('requestId'),
    client_request_id: c.get('clientRequestId') ?? null,
    method: c.req.method,
    path: c.req.path,
    status,
    latency_ms: latencyMs,
    ttft_ms: usage?.ttftMs ?? null,
    key_id: key?.id ?? null,
    model: usage?.model ?? null,
    node_id: usage?.nodeId ?? null,
    instance_id: usage?.instanceId ?? null,
    bytes_in: contentLength(c.req.raw.headers),
    bytes_out: bytesOut,
    outcome: usage?.outcome ?? (status >= 400 ? 'error' : 'ok'),
    error_code: usage?.errorCode ?? c.get('errorCode') ?? null,
  };
}
