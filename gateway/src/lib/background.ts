// Runs work after the response: ctx.waitUntil on Workers (so the isolate lives until it
// ends), a detached promise on Node. Failures are logged, never thrown at the client.
import type { Context } from 'hono';

// The Node host (@hono/node-server puts the request's IncomingMessage in c.env.incoming)
// never has an execution context, and Hono's c.executionCtx getter throws when there is
// none: asking would capture a stack trace per call, several calls per request.
const onNodeHost = (env: unknown): boolean =>
  typeof env === 'object' && env !== null && 'incoming' in env;

export function runInBackground(c: Context, work: Promise<unknown>, what: string): void {
  const guarded = work.catch((err: unknown) => {
    console.error(`background ${what} failed:`, err instanceof Error ? err.message : err);
  });
  if (onNodeHost(c.env)) return;
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // No execution context (app.request in tests): the promise runs on its own.
    ctx = undefined;
  }
  ctx?.waitUntil(guarded);
}
