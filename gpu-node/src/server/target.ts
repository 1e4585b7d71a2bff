// Where a request goes, read from its raw request target without a WHATWG URL parse for the
// targets the gateway sends (`/v1/chat/completions`, plain ASCII, no dot segments, no
// escapes): parsing one URL per use cost the daemon more than routing itself. Anything else
// takes the URL parser's reading, as before, so that dot segments, backslashes and escapes
// mean what they always meant (routing, the token's scope and the engine's path agree).
import { urlToHttpOptions } from 'node:url';

// Targets whose path and query the URL parser leaves exactly as written: a path of segments
// of letters, digits, '-' and '_' (no '.', so no dot segment; no '%' or '\'; no empty
// segment, so no '//' that would read as a host), and a query without the characters the
// parser escapes (space, '"', '#', "'", '<', '>', controls).
const PLAIN_TARGET = /^\/(?:[\w-]+\/)*[\w-]*(?:\?[\w\-.~%+=&,:;@/?!$*()[\]]*)?$/;

function isPlain(rawUrl: string): boolean {
  return PLAIN_TARGET.test(rawUrl);
}

// The path of a request target, as `new URL(rawUrl, base).pathname` reads it.
export function requestPath(rawUrl: string): string {
  if (isPlain(rawUrl)) {
    const query = rawUrl.indexOf('?');
    return query === -1 ? rawUrl : rawUrl.slice(0, query);
  }
  return new URL(rawUrl, 'http://node').pathname;
}

// An engine's base URL taken apart once: what `http.request` needs besides the path.
export interface EngineOrigin {
  protocol: 'http:' | 'https:';
  hostname: string;
  port: number | undefined;
  auth: string | undefined;
  // The base URL's path without a trailing slash ('' for none).
  prefix: string;
  // Whether prefix + a plain request target is what the URL parser makes of
  // `${baseUrl}${rawUrl}` (a base with a query, a fragment or an unusual path is not).
  plain: boolean;
}

export function engineOrigin(baseUrl: string): EngineOrigin {
  const url = new URL(baseUrl);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`engine URL ${baseUrl}: only http and https are proxied`);
  }
  const options = urlToHttpOptions(url);
  const prefix = url.pathname === '/' ? '' : url.pathname;
  return {
    protocol: url.protocol,
    hostname: options.hostname ?? url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    auth: options.auth ?? undefined,
    prefix,
    plain:
      url.search === '' &&
      url.hash === '' &&
      !baseUrl.endsWith('/') &&
      (prefix === '' || /^(?:\/[A-Za-z0-9_-]+)+$/.test(prefix)),
  };
}

// The engine's path and query for a request target, or undefined where only the URL parser
// can tell (the caller then parses `${baseUrl}${rawUrl}`).
export function upstreamPath(origin: EngineOrigin, rawUrl: string): string | undefined {
  return origin.plain && isPlain(rawUrl) ? `${origin.prefix}${rawUrl}` : undefined;
}
