// Gives every request the gateway's own id, a fresh UUID: it keys the usage row, is the
// data-plane JWT's jti and the engine's request id, and goes back as x-request-id (as
// OpenAI's API answers with its own id there). A client's id is never trusted for identity
// (a reused one would merge or drop usage rows, and clash inside the engine); when it is a
// sane token it is kept apart in c.var.clientRequestId for correlation, stored in the usage
// row and echoed back as x-client-request-id. Clients may send it as x-client-request-id
// (OpenAI's name) or, as many already do, x-request-id.
import type { MiddlewareHandler } from 'hono';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { AppEnv } from '../types.ts';

export const CLIENT_REQUEST_ID_HEADER = 'x-client-request-id';

export interface RequestIdOptions {
  // Longest client id that is kept; longer ones are dropped. Default 128.
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
  const clientId = (value: string | undefined) =>
    value !== undefined && sane.test(value) ? value : undefined;

  return async function requestIdMiddleware(c, next) {
    const id = generate();
    const client =
      clientId(c.req.header(CLIENT_REQUEST_ID_HEADER)) ?? clientId(c.req.header(REQUEST_ID_HEADER));
    c.set('requestId', id);
    c.set('clientRequestId', client);
    const headers: [string, string][] = [[REQUEST_ID_HEADER, id]];
    if (client !== undefined) headers.push([CLIENT_REQUEST_ID_HEADER, client]);
    for (const [name, value] of headers) c.header(name, value);
    await next();
    // Handlers that answer with a Response of their own bypass c.header().
    if (c.res.headers.get(REQUEST_ID_HEADER) !== id) {
      try {
        for (const [name, value] of headers) c.res.headers.set(name, value);
      } catch {
        // Immutable headers (a Response straight from fetch): copy it once.
        c.res = new Response(c.res.body, c.res);
        for (const [name, value] of headers) c.res.headers.set(name, value);
      }
    }
  };
}
