// The CLI's only way into fleetgate: HTTP to the admin API. It never imports gateway code
// that touches the database.
import { FetchError, ofetch, type $Fetch } from 'ofetch';

export interface AdminClientOptions {
  url: string;
  adminToken: string;
}

export class CliError extends Error {
  override readonly name = 'CliError';
}

interface OpenAIErrorBody {
  error?: { message?: string; code?: string | null };
}

export function adminClient(opts: AdminClientOptions): $Fetch {
  return ofetch.create({
    baseURL: new URL('/admin/v1/', opts.url).toString(),
    headers: { authorization: `Bearer ${opts.adminToken}` },
    timeout: 15_000,
    // Admin calls change state: never repeat one that may have reached the gateway.
    retry: 0,
  });
}

// Turns ofetch failures into one readable line (the gateway's OpenAI-shaped message).
export function describeError(err: unknown, url: string): string {
  if (err instanceof FetchError) {
    const body = err.data as OpenAIErrorBody | undefined;
    if (err.statusCode && body?.error?.message) {
      return `${err.statusCode}: ${body.error.message}`;
    }
    if (err.statusCode) return `${err.statusCode}: ${err.statusMessage ?? 'request failed'}`;
    return `cannot reach the gateway at ${url}: ${rootCause(err)}`;
  }
  return err instanceof Error ? err.message : String(err);
}

// fetch wraps the socket error (ECONNREFUSED, ENOTFOUND) a few causes deep.
function rootCause(err: unknown): string {
  let current: unknown = err;
  while (current instanceof Error && current.cause !== undefined) current = current.cause;
  if (current instanceof Error) {
    const code = (current as Error & { code?: unknown }).code;
    return typeof code === 'string' ? `${code} (${current.message})` : current.message;
  }
  return String(current);
}
