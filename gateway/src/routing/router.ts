// The router: which ready instance of a model serves a request next. It narrows the
// model's instances to those not tried yet by this request and let through by their
// circuit breakers, then asks the deployment's policy. When every untried instance has
// its circuit open, it routes among them anyway (Envoy's "panic" mode): a request tried
// somewhere may still succeed, one refused outright never does.
import type { RoutingPolicy } from '../../../schema/contracts.ts';
import type { LiveStats } from './live.ts';
import { createPolicies, type CandidateView, type Policy } from './policies.ts';
import { blockHashes, promptText } from './prompt-key.ts';
import type { ModelRoutes, Target } from './table.ts';

export class Router {
  readonly #policies: Record<RoutingPolicy, Policy>;

  constructor(
    readonly live: LiveStats,
    // epsilon: the prefix policy's load bound (policies.ts, DEFAULT_EPSILON).
    opts: { random?: () => number; epsilon?: number } = {},
  ) {
    this.#policies = createPolicies(opts.random ?? Math.random, opts.epsilon);
  }

  // The next instance for a request whose prompt blocks are `hashes` (see `hashesOf`),
  // never one in `tried`; undefined when none is left.
  pick(
    routes: Pick<ModelRoutes, 'model' | 'policy' | 'targets' | 'engine'>,
    hashes: readonly number[],
    tried: ReadonlySet<string>,
  ): Target | undefined {
    const untried = routes.targets.filter((t) => !tried.has(t.instanceId));
    if (untried.length === 0) return undefined;
    const admitted = untried.filter((t) => this.live.admits(t.instanceId) !== 'no');
    const pool = admitted.length > 0 ? admitted : untried;
    const views: CandidateView[] = pool.map((target) => ({
      target,
      live: this.live.get(target.instanceId),
      engine: routes.engine.get(target.instanceId),
    }));
    const policy = this.#policies[routes.policy];
    return policy.choose({ model: routes.model, hashes }, views).target;
  }
}

// The prompt blocks of an OpenAI request body (chat messages, completion prompt or
// embedding input).
export function hashesOf(body: Record<string, unknown>): number[] {
  return blockHashes(promptText(body));
}
