// What the simulator reads from a request before answering it: the bounded body, the JSON
// checked against the engine's schema, and the test headers that inject faults and delays.
import type { IncomingMessage } from 'node:http';
import type { z } from 'zod';
import type { Fault } from './answers.ts';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;
// Audio uploads are read whole too (the simulator is not what a benchmark measures).
export const MAX_AUDIO_BYTES = 32 * 1024 * 1024;
const MAX_SIM_DELAY_MS = 600_000;

export type ReadResult =
  { ok: true; text: string; bytes: Buffer } | { ok: false; status: number; message: string };

// Reads a bounded body. An oversized one is drained rather than cut off, so the client
// reads the 413 instead of a reset connection; one far over the bound is cut off anyway.
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<ReadResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
      else if (size > 4 * limit) req.destroy();
    });
    req.on('end', () => {
      if (size > limit) {
        resolve({ ok: false, status: 413, message: `request body over ${limit} bytes` });
      } else {
        const bytes = Buffer.concat(chunks, size);
        resolve({ ok: true, text: bytes.toString('utf8'), bytes });
      }
    });
    req.on('error', () => resolve({ ok: false, status: 400, message: 'request body not read' }));
  });
}

export class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

export function validate<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw new RequestError(
    400,
    `${path ? `'${path}': ` : ''}${issue?.message ?? 'invalid request'}`,
    path || null,
  );
}

export function parseFault(req: IncomingMessage): { status: number } | { fault: Fault } {
  const raw = req.headers['x-sim-error'];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim().toLowerCase();
  if (value === undefined || value === '') return { fault: 'none' };
  if (value === 'stream' || value === 'drop') return { fault: value };
  const status = Number(value);
  if (Number.isInteger(status) && status >= 400 && status <= 599) return { status };
  throw new RequestError(
    400,
    "x-sim-error must be an HTTP status from 400 to 599, 'stream' or 'drop'",
  );
}

export function parseDelay(req: IncomingMessage): number {
  const raw = req.headers['x-sim-delay-ms'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === '') return 0;
  const ms = Number(value);
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_SIM_DELAY_MS) {
    throw new RequestError(400, `x-sim-delay-ms must be a number from 0 to ${MAX_SIM_DELAY_MS}`);
  }
  return ms;
}
