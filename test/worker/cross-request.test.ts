// Loads shared across requests of one isolate, inside workerd. A load started by request A
// is I/O of A: when A is canceled while the load is pending, workerd cancels that I/O too
// and the load's promise never settles. Request B, wanting the same load, must still be
// answered (after it gives up on A's load and runs its own), for each of the gateway's
// shared loads: the API key cache, the routing table cache and the placement runner.
import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import type { Holds } from './upstream.ts';

const ORIGIN = 'http://fleetgate.test';
// How long the test waits for something that should happen (an upstream hold arriving, an
// answer); reaching it fails the test with a message rather than timing it out.
const PATIENCE_MS = 15_000;

async function holds(ns: string): Promise<Holds> {
  const res = await fetch(`${env.UPSTREAM_URL}/_test/holds/${ns}`);
  return res.json<Holds>();
}

async function until(what: string, ns: string, done: (h: Holds) => boolean): Promise<void> {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    if (done(await holds(ns))) return;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function release(ns: string, n: number): Promise<void> {
  const res = await fetch(`${env.UPSTREAM_URL}/_test/release/${ns}/${n}`, { method: 'POST' });
  expect(res.status).toBe(200);
}

async function answered(res: Promise<Response>, what: string): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      res,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`never answered: ${what}`)), PATIENCE_MS);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe.each(['key', 'routes', 'placement'])('shared %s load across requests', (what) => {
  it('answers a request whose shared load belonged to a request that was canceled', async () => {
    const ns = `${what}-${crypto.randomUUID()}`;
    const url = `${ORIGIN}/_test/probe/${what}/${ns}`;

    // Request A starts the load, and its client goes away while the load is pending.
    const abortA = new AbortController();
    const a = exports.default.fetch(url, { signal: abortA.signal });
    await until("A's load reaches the upstream", ns, (h) => h.held.includes(1));
    abortA.abort();
    await expect(a).rejects.toThrow();
    // workerd cancels the I/O of a canceled request: A's load is gone, never to settle.
    await until("A's load is dropped with A", ns, (h) => h.dropped.includes(1));

    // Request B wants the same load: it must not wait on A's forever.
    const b = exports.default.fetch(url);
    await until("B's own load reaches the upstream", ns, (h) => h.held.includes(2));
    await release(ns, 2);
    const res = await answered(b, 'B');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ loaded: 'load-2' });
  });
});
