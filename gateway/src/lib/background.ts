// Runs work after the response: ctx.waitUntil on Workers (so the isolate lives until it
// ends), a detached promise on Node. Failures are logged, never thrown at the client.
import type { Context } from 'hono';

export function runInBackground(c: Context, work: Promise<unknown>, what: string): void {
  const guarded = work.catch((err: unknown) => {
    console.error(`background ${what} failed:`, err instanceof Error ? err.message : err);
  });
  let ctx: { waitUntil(p: Promise<unknown>): void } | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    // Node host: no execution context; the promise runs on its own.
    ctx = undefined;
  }
  ctx?.waitUntil(guarded);
}
