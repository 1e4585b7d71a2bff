// The routing policies behind one call: given the request's prompt blocks and the
// candidates (each with the gateway's own live figures and the engine's heartbeat figures,
// kept apart), answer the instance to try. Chosen per deployment by name.
import type { RoutingPolicy } from '../../../schema/contracts.ts';
import type { EngineFigures } from './figures.ts';
import type { LiveFigures } from './live.ts';
import { PrefixIndex } from './prefix-index.ts';
import { routingKey } from './prompt-key.ts';
import type { Target } from './table.ts';

export interface CandidateView {
  target: Target;
  // What this gateway process saw itself.
  live: LiveFigures;
  // What the engine reported in its node's last heartbeat; undefined when it reports none.
  engine: EngineFigures | undefined;
}

export interface RouteRequest {
  model: string;
  // Chained hashes of the prompt's blocks (prompt-key.ts).
  hashes: readonly number[];
}

export interface Policy {
  // Never called with an empty list.
  choose(req: RouteRequest, candidates: readonly CandidateView[]): CandidateView;
}

// Outstanding work at an instance: what this gateway has in flight there plus what its
// engine holds in its queue. Both count, because other gateway replicas (or isolates) send
// work there too, which only the engine's queue shows.
export function outstanding(c: CandidateView): number {
  return c.live.inFlight + (c.engine?.waiting ?? 0);
}

const loadFraction = (c: CandidateView): number => outstanding(c) / c.target.capacity;

export class RoundRobinPolicy implements Policy {
  readonly #cursors = new Map<string, number>();

  choose(req: RouteRequest, candidates: readonly CandidateView[]): CandidateView {
    const cursor = this.#cursors.get(req.model) ?? 0;
    this.#cursors.set(req.model, (cursor + 1) % 1_000_000_007);
    return candidates[cursor % candidates.length] ?? (candidates[0] as CandidateView);
  }
}

// Least outstanding work as a fraction of what the instance can run; ties at random, so
// that gateways with the same view do not all pile onto the first of equals.
export class LeastLoadPolicy implements Policy {
  constructor(private readonly random: () => number) {}

  choose(_req: RouteRequest, candidates: readonly CandidateView[]): CandidateView {
    let best: CandidateView[] = [];
    let bestLoad = Infinity;
    for (const c of candidates) {
      const load = loadFraction(c);
      if (load < bestLoad - 1e-9) {
        best = [c];
        bestLoad = load;
      } else if (Math.abs(load - bestLoad) <= 1e-9) {
        best.push(c);
      }
    }
    const i = Math.min(best.length - 1, Math.floor(this.random() * best.length));
    return best[i] ?? (candidates[0] as CandidateView);
  }
}

// Murmur3's 32-bit finaliser: spreads the bits of an FNV hash over the whole word.
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function hashWith(key: number, id: string): number {
  let h = (key ^ 0x811c9dc5) >>> 0;
  for (let i = 0; i < id.length; i += 1) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix(h);
}

// Consistent hashing by rendezvous (highest random weight): every instance gets a score
// from (key, instance id); the order of scores is the key's preference list. Adding or
// removing an instance moves only the keys that rank it first, and the list gives the
// "next candidate" of bounded-load hashing directly. Depends on nothing but the key and the
// ids, so every isolate and replica computes the same list.
export function preferenceOrder<T extends { target: { instanceId: string } }>(
  key: number,
  candidates: readonly T[],
): T[] {
  return candidates
    .map((c) => ({ c, score: hashWith(key, c.target.instanceId) }))
    .sort((a, b) => b.score - a.score || (a.c.target.instanceId < b.c.target.instanceId ? -1 : 1))
    .map((x) => x.c);
}

// The bound of consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam
// 2018), weighted by capacity. With m units of work in all counting the new request, an
// instance's fair share is m * capacity / total capacity; it may hold
// max(ceil(share), floor((1 + epsilon) * share)). The paper's ceil((1 + epsilon) * share)
// lets an instance run a whole request above its share whenever the share is small (5 where
// 4 is fair, at 16 requests on 4 instances): 25% more queued prefill for the requests
// there, whatever epsilon. The form here keeps that slack to epsilon once shares are large
// and to none while they are small. It is never below ceil(share), so some instance is
// always under its bound (their sum reaches m) and a candidate is always found.
export function loadBound(
  epsilon: number,
  totalWithNew: number,
  capacity: number,
  totalCapacity: number,
): number {
  const share = (totalWithNew * capacity) / totalCapacity;
  return Math.max(Math.ceil(share), Math.floor((1 + epsilon) * share));
}

// epsilon = 0.1, chosen by measurement (README, "Routing benchmark"). With the engines'
// prefill serial, a request queued above an instance's fair share adds its prefill to the
// TTFT of the requests behind it, so on prompts that share nothing TTFT exceeds least_load's
// by about epsilon: 0.1 keeps that within 10%. The affinity it costs is small: a prefix
// leaves its first choice only while that one holds more than 10% above its share, and the
// in-memory index keeps a spilled conversation where it went. (SGLang's prefix_hash uses
// 1.25 with the paper's ceil bound; at 0.25 our benchmark measured prefix 20% behind
// least_load on unique prompts.)
export const DEFAULT_EPSILON = 0.1;

// Prefix affinity with bounded load. The routing key (the first blocks of the prompt)
// picks a preference list by consistent hashing; the request goes to the first instance
// on it whose load stays within the bound. Requests with no prompt go by least load. An
// in-memory index of where recent prefixes went may put one instance ahead of the list:
// the one that last got the longest prefix this request shares beyond the key's blocks
// (a conversation that spilled over to its second choice stays there).
export class PrefixPolicy implements Policy {
  readonly index: PrefixIndex;

  constructor(
    private readonly fallback: Policy,
    private readonly epsilon = DEFAULT_EPSILON,
    index = new PrefixIndex(),
  ) {
    this.index = index;
  }

  choose(req: RouteRequest, candidates: readonly CandidateView[]): CandidateView {
    const key = routingKey(req.hashes);
    if (key === undefined) return this.fallback.choose(req, candidates);
    const order = preferenceOrder(key, candidates);
    const hinted = this.index.lookup(req.hashes);
    if (hinted !== undefined) {
      const at = order.findIndex((c) => c.target.instanceId === hinted);
      if (at > 0) order.unshift(...order.splice(at, 1));
    }
    let total = 1;
    let capacity = 0;
    for (const c of candidates) {
      total += outstanding(c);
      capacity += c.target.capacity;
    }
    const chosen =
      order.find(
        (c) => outstanding(c) + 1 <= loadBound(this.epsilon, total, c.target.capacity, capacity),
      ) ?? this.fallback.choose(req, candidates);
    this.index.record(req.hashes, chosen.target.instanceId);
    return chosen;
  }
}

export function createPolicies(
  random: () => number,
  epsilon = DEFAULT_EPSILON,
): Record<RoutingPolicy, Policy> {
  const leastLoad = new LeastLoadPolicy(random);
  return {
    round_robin: new RoundRobinPolicy(),
    least_load: leastLoad,
    prefix: new PrefixPolicy(leastLoad, epsilon),
  };
}
