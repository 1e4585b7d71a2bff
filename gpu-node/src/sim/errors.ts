// Error bodies as vLLM's OpenAI server writes them: OpenAI's shape, with the exception
// class name as `type` and the HTTP status as `code`.
import type { ServerResponse } from 'node:http';

const TYPES: Record<number, string> = {
  400: 'BadRequestError',
  401: 'AuthenticationError',
  403: 'PermissionDeniedError',
  404: 'NotFoundError',
  405: 'MethodNotAllowedError',
  409: 'ConflictError',
  413: 'PayloadTooLargeError',
  422: 'UnprocessableEntityError',
  429: 'RateLimitError',
  500: 'InternalServerError',
  502: 'BadGatewayError',
  503: 'ServiceUnavailableError',
  504: 'GatewayTimeoutError',
};

export function errorType(status: number): string {
  return TYPES[status] ?? (status >= 500 ? 'InternalServerError' : 'BadRequestError');
}

export function errorJson(status: number, message: string, param: string | null = null): string {
  return JSON.stringify({ error: { message, type: errorType(status), param, code: status } });
}

export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  param: string | null = null,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorJson(status, message, param);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  };
  if (status === 429) headers['retry-after'] = '1';
  res.writeHead(status, headers);
  res.end(body);
}
