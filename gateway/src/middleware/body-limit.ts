// Refuses request bodies over the configured size with 413 in OpenAI's error shape, before
// any handler reads them. A declared Content-Length is judged at once; a chunked body is
// counted as it arrives and refused as soon as it passes the limit.
import type { MiddlewareHandler } from 'hono';
import { bodyLimit as honoBodyLimit } from 'hono/body-limit';
import { ApiError, payloadTooLarge } from '../errors.ts';
import type { AppEnv } from '../types.ts';

export function bodyLimit(options: { maxBytes: number }): MiddlewareHandler<AppEnv> {
  const { maxBytes } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new Error(`bodyLimit: maxBytes must be a positive integer, got ${maxBytes}`);
  }
  const limit = honoBodyLimit({
    maxSize: maxBytes,
    onError: () => {
      const error = payloadTooLarge(maxBytes);
      // The rest of the body is never read, so this connection cannot carry another
      // request: tell the client not to reuse it.
      throw new ApiError(error.status, error.type, error.message, error.code, error.param, {
        headers: { connection: 'close' },
      });
    },
  });
  return async function bodyLimitMiddleware(c, next) {
    await limit(c, next);
  };
}
