// The one error shape of the API: OpenAI's {"error": {message, type, param, code}}, with
// the status codes the OpenAI SDKs map to their exception classes (400 BadRequestError,
// 401 AuthenticationError, 403 PermissionDeniedError, 404 NotFoundError, 409 ConflictError,
// 413, 422, 429 RateLimitError, >=500 InternalServerError).
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'conflict_error'
  | 'rate_limit_error'
  // OpenAI's types for a 429: a per-minute limit of requests or tokens, or a spent budget.
  | 'requests'
  | 'tokens'
  | 'insufficient_quota'
  | 'server_error'
  | 'service_unavailable';

export interface ErrorBody {
  error: { message: string; type: ErrorType; param: string | null; code: string | null };
}

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: ErrorType,
    message: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers;
  }
  readonly headers: Record<string, string> | undefined;

  body(): ErrorBody {
    return {
      error: { message: this.message, type: this.type, param: this.param, code: this.code },
    };
  }
}

export const badRequest = (
  message: string,
  param: string | null = null,
  code = 'invalid_request',
) => new ApiError(400, 'invalid_request_error', message, code, param);

export const unauthorized = (message: string, code = 'invalid_api_key') =>
  new ApiError(401, 'authentication_error', message, code);

export const forbidden = (message: string, code = 'permission_denied') =>
  new ApiError(403, 'permission_error', message, code);

export const notFound = (message: string, code = 'not_found', param: string | null = null) =>
  new ApiError(404, 'not_found_error', message, code, param);

export const conflict = (message: string, code = 'conflict') =>
  new ApiError(409, 'conflict_error', message, code);

export const payloadTooLarge = (limitBytes: number) =>
  new ApiError(
    413,
    'invalid_request_error',
    `request body is larger than the limit of ${limitBytes} bytes`,
    'request_too_large',
  );

export const unavailable = (message: string, code = 'no_ready_instance') =>
  new ApiError(503, 'service_unavailable', message, code);

export const badGateway = (message: string, code = 'upstream_error') =>
  new ApiError(502, 'server_error', message, code);
