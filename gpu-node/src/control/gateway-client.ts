// The node's calls to the gateway's control plane: register and heartbeat. No retries
// here: registration is a one-time exchange of a single-use token (a retry could burn
// it), and the heartbeat loop owns its own retry cadence.
import {
  HeartbeatResponseSchema,
  RegisterResponseSchema,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type RegisterRequest,
  type RegisterResponse,
} from '../../../schema/contracts.ts';
import type { z } from 'zod';
import { describeFetchError } from '../engines/probe.ts';

export type GatewayErrorCode = 'unreachable' | 'unauthorized' | 'rejected' | 'bad_response';

export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

function errorMessageOf(text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: { message?: unknown } | string };
    if (typeof body.error === 'string') return body.error;
    if (typeof body.error?.message === 'string') return body.error.message;
  } catch {
    // Not JSON: fall back to the status line.
  }
  return undefined;
}

async function post<T>(
  url: string,
  bearer: string,
  body: unknown,
  schema: z.ZodType<T>,
  timeoutMs: number,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const why = describeFetchError(err);
    throw new GatewayError('unreachable', `cannot reach the gateway at ${url}: ${why}`, undefined, {
      cause: err,
    });
  }
  const text = await res.text().catch(() => '');
  if (!res.ok) {
    const message = errorMessageOf(text) ?? `HTTP ${res.status}`;
    const code: GatewayErrorCode =
      res.status === 401 || res.status === 403 ? 'unauthorized' : 'rejected';
    throw new GatewayError(code, message, res.status);
  }
  if (text.length > MAX_ANSWER_BYTES) {
    throw new GatewayError('bad_response', `the gateway's answer is too large`, res.status);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new GatewayError('bad_response', `the gateway answered with invalid JSON`, res.status, {
      cause: err,
    });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GatewayError(
      'bad_response',
      `unexpected answer from the gateway (${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}); ` +
        'are gateway and daemon versions compatible?',
      res.status,
    );
  }
  return parsed.data;
}

export function endpoint(gatewayUrl: string, path: string): string {
  return `${gatewayUrl.replace(/\/+$/, '')}${path}`;
}

export function register(
  gatewayUrl: string,
  token: string,
  body: RegisterRequest,
  timeoutMs = 15_000,
): Promise<RegisterResponse> {
  return post(
    endpoint(gatewayUrl, '/node/v1/register'),
    token,
    body,
    RegisterResponseSchema,
    timeoutMs,
  );
}

export function heartbeat(
  gatewayUrl: string,
  nodeSecret: string,
  body: HeartbeatRequest,
  timeoutMs = 10_000,
): Promise<HeartbeatResponse> {
  return post(
    endpoint(gatewayUrl, '/node/v1/heartbeat'),
    nodeSecret,
    body,
    HeartbeatResponseSchema,
    timeoutMs,
  );
}
