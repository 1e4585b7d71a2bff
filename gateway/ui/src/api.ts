// The dashboard's one way to the admin API: same-origin fetch with the session cookie,
// the CSRF token on every request that changes something, errors in OpenAI's shape turned
// into ApiError, and a 401 anywhere reported once so the shell can show the login page.
import type { ErrorBody, Session } from '../../../schema/admin.ts';

export type { Session };

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

let csrfToken: string | null = null;
let onUnauthorized: () => void = () => undefined;

export function useSession(session: Session | null): void {
  csrfToken = session?.csrf_token ?? null;
}

export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

export function headersFor(method: string, json: boolean): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (json) headers['content-type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['x-csrf-token'] = csrfToken;
  return headers;
}

async function errorOf(res: Response): Promise<ApiError> {
  let body: Partial<ErrorBody> | null = null;
  try {
    body = await res.json<Partial<ErrorBody>>();
  } catch {
    body = null;
  }
  const error = body?.error;
  return new ApiError(res.status, error?.message ?? `HTTP ${res.status}`, error?.code ?? null);
}

// `path` is below /admin/v1. Session calls answer 401 as a plain "not logged in".
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`/admin/v1${path}`, {
    method,
    credentials: 'same-origin',
    headers: headersFor(method, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401 && !path.startsWith('/session')) onUnauthorized();
    throw error;
  }
  if (res.status === 204) return undefined as T;
  return await res.json<T>();
}

// A streamed answer (server-sent events) for the caller to read; aborted through `signal`.
export async function openStream(path: string, signal: AbortSignal): Promise<Response> {
  const res = await fetch(`/admin/v1${path}`, {
    credentials: 'same-origin',
    headers: { ...headersFor('GET', false), accept: 'text/event-stream' },
    signal,
  });
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401) onUnauthorized();
    throw error;
  }
  return res;
}
