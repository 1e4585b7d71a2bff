// Gives every request an id: the client's own x-request-id when it is a sane token (so a
// caller can correlate its logs with ours), a fresh UUID otherwise. The id lands in
// c.var.requestId, on the response (errors and streams included) and in the usage row.
import type { MiddlewareHandler } from 'hono';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { AppEnv } from '../types.ts';

export interface RequestIdOptions {
  // Longest incoming id that is honoured; longer ones are replaced. Default 128.
  maxLength?: number;
  generate?: () => string;
}

export function requestId(options: RequestIdOptions = {}): MiddlewareHandler<AppEnv> {
  const maxLength = options.maxLength ?? 128;
  if (!Number.isInteger(maxLength) || maxLength < 8 || maxLength > 1024) {
    throw new Error(`requestId: maxLength must be an integer from 8 to 1024, got ${maxLength}`);
  }
  const generate = options.generate ?? (() => crypto.randomUUID());
  // Printable, no spaces or quotes: it is echoed into headers and logs.
  const sane = new RegExp(`^[A-Za-z0-9._:/+=-]{1,${maxLength}}$`);

  return async function requestIdMiddleware(c, next) {
    const incoming = c.req.header(REQUEST_ID_HEADER);
    const id = incoming !== undefined && sane.test(incoming) ? incoming : generate();
    c.set('requestId', id);
    c.header(REQUEST_ID_HEADER, id);
    await next();
    // Handlers that answer with a Response of their own bypass c.header().
    if (c.res.headers.get(REQUEST_ID_HEADER) !== id) {
      try {
        c.res.headers.set(REQUEST_ID_HEADER, id);
      } catch {
        // Immutable headers (a Response straight from fetch): copy it once.
        c.res = new Response(c.res.body, c.res);
        c.res.headers.set(REQUEST_ID_HEADER, id);
      }
    }
  };
}
