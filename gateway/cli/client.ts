// The CLI's only way into fleetgate: HTTP to the admin API. It never imports gateway code
// that touches the database; what it knows of the answers comes from schema/admin.ts.
import { FetchError, ofetch } from 'ofetch';
import { z } from 'zod';
import { ErrorBodySchema } from '../../schema/admin.ts';

export interface AdminClientOptions {
  url: string;
  adminToken: string;
}

export class CliError extends Error {
  override readonly name = 'CliError';
}

export interface CallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: Record<string, unknown>;
  query?: Record<string, string | number | undefined>;
}

// An answer checked against its contract (`data`), and the JSON as the gateway sent it
// (`json`, what --json prints, with any field a newer gateway added).
export interface Answer<T> {
  data: T;
  json: unknown;
}

export interface AdminApi {
  call<S extends z.ZodType>(
    schema: S,
    path: string,
    opts?: CallOptions,
  ): Promise<Answer<z.output<S>>>;
  // A GET whose answer is read as it arrives (server-sent events), until `signal` aborts.
  stream(
    path: string,
    query: Record<string, string | number | undefined>,
    signal?: AbortSignal,
  ): Promise<ReadableStream<Uint8Array>>;
}

export function adminClient(opts: AdminClientOptions): AdminApi {
  const api = ofetch.create({
    baseURL: new URL('/admin/v1/', opts.url).toString(),
    headers: { authorization: `Bearer ${opts.adminToken}` },
    timeout: 15_000,
    // Admin calls change state: never repeat one that may have reached the gateway.
    retry: 0,
  });
  return {
    async call(schema, path, callOpts = {}) {
      const method = callOpts.method ?? 'GET';
      const json = await api<unknown>(path, { ...callOpts, method });
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw new CliError(
          `the gateway's answer to ${method} ${path} is not what this CLI expects:\n${z.prettifyError(parsed.error)}`,
        );
      }
      return { data: parsed.data, json };
    },
    async stream(path, query, signal) {
      const url = new URL(path, new URL('/admin/v1/', opts.url));
      for (const [name, value] of Object.entries(query)) {
        if (value !== undefined) url.searchParams.set(name, String(value));
      }
      const res = await fetch(url, {
        headers: { authorization: `Bearer ${opts.adminToken}`, accept: 'text/event-stream' },
        signal,
      });
      if (!res.ok || !res.body) {
        const body = ErrorBodySchema.safeParse(await res.json().catch(() => undefined));
        throw new CliError(
          `${res.status}: ${body.success ? body.data.error.message : res.statusText}`,
        );
      }
      return res.body;
    },
  };
}

// Turns ofetch failures into one readable line (the gateway's OpenAI-shaped message).
export function describeError(err: unknown, url: string): string {
  if (err instanceof FetchError) {
    const body = ErrorBodySchema.safeParse(err.data);
    if (err.statusCode && body.success) return `${err.statusCode}: ${body.data.error.message}`;
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
