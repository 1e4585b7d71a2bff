// The Worker under test: the gateway's own handler (gateway/src/worker.ts) for everything,
// plus probes under /_test/probe/ that drive the gateway's cross-request caches (the API
// key cache, the routing table cache, the placement runner) with loads that wait on the
// upstream server (upstream.ts, /_test/hold). Each probe call is a real request of this
// isolate, so a test can cancel one request while its load is pending and check that the
// next request that wants the same load is still answered.
import { createKeyCache, type KeyCache } from '../../gateway/src/auth/key-cache.ts';
import { serializeRuns, type Reconciler } from '../../gateway/src/control-plane/reconcile.ts';
import { cacheRoutingTable, type RoutingCache } from '../../gateway/src/routing/table.ts';
import gateway, { type Env } from '../../gateway/src/worker.ts';

// The gateway's Durable Object classes, bound by wrangler.toml.
export { KeyLimiter, NodeTunnel } from '../../gateway/src/worker.ts';
import { DEFAULT_ROUTING_POLICY } from '../../schema/contracts.ts';
import { NO_LIMITS } from '../../gateway/src/limits/arithmetic.ts';

interface TestEnv extends Env {
  UPSTREAM_URL: string;
}

interface Probes {
  keys: KeyCache;
  routes: RoutingCache;
  placement: Reconciler;
}

// One set per test namespace, kept for the isolate's life like the gateway's own caches.
const probes = new Map<string, Probes>();

function probesFor(ns: string, upstream: string): Probes {
  let p = probes.get(ns);
  if (p) return p;
  // A load that lasts until the test releases it; answers the number the upstream gave it.
  const held = async (): Promise<number> => {
    const res = await fetch(`${upstream}/_test/hold/${ns}`);
    const body = await res.json<{ number: number }>();
    return body.number;
  };
  p = {
    keys: createKeyCache({
      ttlMs: 60_000,
      now: Date.now,
      load: async () => {
        const n = await held();
        return {
          id: `load-${n}`,
          name: 'probe',
          models: null,
          expiresAt: null,
          disabled: false,
          limits: NO_LIMITS,
        };
      },
    }),
    routes: cacheRoutingTable(
      async () => {
        const n = await held();
        const model = `load-${n}`;
        return new Map([
          [
            model,
            { model, created: 0, policy: DEFAULT_ROUTING_POLICY, targets: [], engine: new Map() },
          ],
        ]);
      },
      { cacheTtlMs: 60_000, heartbeatIntervalS: 5, now: Date.now },
    ),
    placement: serializeRuns(
      async () => {
        const n = await held();
        return {
          create: [],
          remove: [],
          unplaced: [{ deploymentId: `load-${n}`, replicas: [], reason: 'probe' }],
        };
      },
      { minIntervalMs: 0, now: Date.now },
    ),
  };
  probes.set(ns, p);
  return p;
}

async function probe(what: string, ns: string, env: TestEnv): Promise<Response> {
  const p = probesFor(ns, env.UPSTREAM_URL);
  let loaded: string | undefined;
  if (what === 'key') loaded = (await p.keys.get('one-hash'))?.id;
  else if (what === 'routes') loaded = [...(await p.routes.get()).keys()][0];
  else if (what === 'placement') loaded = (await p.placement.run()).unplaced[0]?.deploymentId;
  else return new Response('unknown probe', { status: 404 });
  return Response.json({ loaded });
}

export default {
  async fetch(request: Request, env: TestEnv, ctx: ExecutionContext): Promise<Response> {
    const match = /^\/_test\/probe\/(\w+)\/([\w-]+)$/.exec(new URL(request.url).pathname);
    if (match) return probe(match[1] ?? '', match[2] ?? '', env);
    return gateway.fetch(request, env, ctx);
  },
} satisfies ExportedHandler<TestEnv>;
