import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { RoutingPolicy } from '../../../schema/contracts.ts';
import type { EngineFigures } from './figures.ts';
import { LiveStats } from './live.ts';
import { DEFAULT_EPSILON, loadBound } from './policies.ts';
import { KEY_BLOCKS, BLOCK_CHARS, blockHashes, promptText, routingKey } from './prompt-key.ts';
import { Router, hashesOf } from './router.ts';
import type { ModelRoutes, Target } from './table.ts';

const target = (id: string, capacity = 256): Target => ({
  instanceId: id,
  deploymentId: 'd',
  nodeId: `node-${id}`,
  advertiseUrl: `http://${id}.test`,
  capacity,
});

function routes(
  policy: RoutingPolicy,
  ids: string[],
  engine: Record<string, EngineFigures> = {},
): ModelRoutes {
  return {
    model: 'm',
    created: 0,
    policy,
    targets: ids.map((id) => target(id)),
    engine: new Map(Object.entries(engine)),
  };
}

// A deterministic uniform generator (mulberry32) for the simulations.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SYSTEM = 'You are the support assistant of ACME. '.repeat(60);
const chat = (...turns: string[]) => ({
  model: 'm',
  messages: [
    { role: 'system', content: SYSTEM },
    ...turns.map((content, i) => ({ role: i % 2 === 0 ? 'user' : 'assistant', content })),
  ],
});
const none = new Set<string>();

describe('prompt blocks', () => {
  it('gives equal leading hashes to prompts sharing leading blocks, and one key to every turn of a conversation', () => {
    const first = hashesOf(chat('How do I reset my password?'));
    const later = hashesOf(
      chat('How do I reset my password?', 'Like this.', 'Thanks, and my email?'),
    );
    expect(SYSTEM.length).toBeGreaterThan(KEY_BLOCKS * BLOCK_CHARS);
    const shared = Math.floor(promptText(chat('How do I reset my password?')).length / BLOCK_CHARS);
    expect(later.slice(0, shared)).toEqual(first.slice(0, shared));
    expect(routingKey(later)).toBe(routingKey(first));
    expect(routingKey(hashesOf({ messages: [{ role: 'user', content: 'other' }] }))).not.toBe(
      routingKey(first),
    );
  });

  it('reads completion prompts, token ids and chat content parts', () => {
    expect(promptText({ prompt: 'abc' })).toBe('abc');
    expect(promptText({ prompt: ['abc', 'def'] })).toBe('abc');
    expect(promptText({ prompt: [1, 2, 3] })).toBe('1 2 3');
    expect(promptText({ prompt: [[4, 5]] })).toBe('4 5');
    expect(promptText({ input: 'x' })).toBe('x');
    expect(
      promptText({ messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }),
    ).toBe('<|user|>\nhi\n');
    expect(blockHashes('')).toEqual([]);
    expect(routingKey([])).toBeUndefined();
    expect(blockHashes('a'.repeat(BLOCK_CHARS * 2 + 1))).toHaveLength(3);
  });
});

describe('round_robin', () => {
  it('rotates over the instances and skips the ones a request tried', () => {
    const router = new Router(new LiveStats({ now: () => 0 }));
    const r = routes('round_robin', ['a', 'b', 'c']);
    const picks = Array.from({ length: 6 }, () => router.pick(r, [], none)?.instanceId);
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(router.pick(r, [], new Set(['a', 'b']))?.instanceId).toBe('c');
    expect(router.pick(r, [], new Set(['a', 'b', 'c']))).toBeUndefined();
  });
});

describe('least_load', () => {
  it('picks the least outstanding work: in flight here plus the engine queue, over capacity', () => {
    const live = new LiveStats({ now: () => 0 });
    const router = new Router(live, { random: () => 0 });
    live.start('a');
    live.start('a');
    const r = routes('least_load', ['a', 'b', 'c'], {
      b: { running: 10, waiting: 3, kvCacheUsage: 0.9 },
      c: { running: 1, waiting: 1, kvCacheUsage: 0.1 },
    });
    expect(router.pick(r, [], none)?.instanceId).toBe('c');
    // Capacity counts: 2 of 256 is less than 1 of 4.
    live.start('c');
    const mixed: ModelRoutes = { ...r, targets: [target('a'), target('c', 4)], engine: new Map() };
    expect(router.pick(mixed, [], none)?.instanceId).toBe('a');
  });

  it('breaks ties at random', () => {
    const draws = [0, 0.5, 0.99];
    const seen = draws.map((u) => {
      const router = new Router(new LiveStats({ now: () => 0 }), { random: () => u });
      return router.pick(routes('least_load', ['a', 'b', 'c']), [], none)?.instanceId;
    });
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});

describe('loadBound', () => {
  it('is the fair share rounded up while shares are small, then (1 + epsilon) times it', () => {
    expect(loadBound(0.1, 16, 1, 4)).toBe(4);
    expect(loadBound(0.1, 17, 1, 4)).toBe(5);
    expect(loadBound(0.1, 400, 1, 4)).toBe(110);
    expect(loadBound(0.25, 16, 1, 4)).toBe(5);
    // Weighted by capacity: an instance with 3/4 of the capacity takes 3/4 of the work.
    expect(loadBound(0, 16, 3, 4)).toBe(12);
  });
});

describe('prefix', () => {
  const ids = ['inst-a', 'inst-b', 'inst-c', 'inst-d'];

  it('sends requests sharing a prefix to one instance, and spreads distinct prefixes', () => {
    const router = new Router(new LiveStats({ now: () => 0 }));
    const r = routes('prefix', ids);
    const first = router.pick(r, hashesOf(chat('question one')), none)?.instanceId;
    for (const q of ['question two', 'a third question', 'and a fourth']) {
      expect(router.pick(r, hashesOf(chat(q)), none)?.instanceId).toBe(first);
    }
    const counts = new Map<string, number>();
    const random = rng(7);
    for (let i = 0; i < 4000; i += 1) {
      const prompt = `user ${i}: ${random().toString(36)} `.repeat(8);
      const id = router.pick(r, hashesOf({ prompt }), none)?.instanceId ?? '';
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect([...counts.keys()].sort()).toEqual(ids);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(4000 * 0.2);
      expect(n).toBeLessThan(4000 * 0.3);
    }
  });

  it('moves only the keys of an instance that leaves', () => {
    const router = new Router(new LiveStats({ now: () => 0 }));
    const all = routes('prefix', ids);
    const three = routes('prefix', ids.slice(0, 3));
    let moved = 0;
    for (let i = 0; i < 1000; i += 1) {
      const h = hashesOf({ prompt: `conversation ${i}` });
      const before = router.pick(all, h, none)?.instanceId;
      const after = router.pick(three, h, none)?.instanceId;
      if (before !== 'inst-d') expect(after).toBe(before);
      else moved += 1;
    }
    expect(moved).toBeGreaterThan(0);
  });

  it('never lets an instance exceed the bounded load in a simulation of many requests', () => {
    const live = new LiveStats({ now: () => 0 });
    const router = new Router(live, { random: rng(1) });
    const r = routes('prefix', ids);
    const random = rng(2);
    const open: { end(): void }[] = [];
    let checked = 0;
    for (let i = 0; i < 20_000; i += 1) {
      // A skewed workload: most requests share one of three prefixes.
      const u = random();
      const prompt =
        u < 0.6 ? SYSTEM : u < 0.8 ? `${SYSTEM}!` : u < 0.9 ? 'x'.repeat(2000) : `unique ${i}`;
      const loads = ids.map((id) => live.get(id).inFlight);
      const total = loads.reduce((a, b) => a + b, 0) + 1;
      const picked = router.pick(r, hashesOf({ prompt }), none);
      if (!picked) throw new Error('no pick');
      const after = live.get(picked.instanceId).inFlight + 1;
      const bound = loadBound(DEFAULT_EPSILON, total, 1, ids.length);
      expect(after).toBeLessThanOrEqual(bound);
      // Never more than epsilon above the fair share, or a whole request while shares are small.
      const share = total / ids.length;
      expect(after).toBeLessThanOrEqual(Math.max(Math.ceil(share), (1 + DEFAULT_EPSILON) * share));
      checked += 1;
      const attempt = live.start(picked.instanceId);
      open.push({ end: () => attempt.end('ok') });
      // Requests finish in random order; the number in flight wanders between 0 and ~200.
      while (open.length > 0 && random() < open.length / 100) {
        const at = Math.floor(random() * open.length);
        open.splice(at, 1)[0]?.end();
      }
    }
    expect(checked).toBe(20_000);
  });

  it('counts the engine queue (other gateways’ work) in the load', () => {
    const router = new Router(new LiveStats({ now: () => 0 }));
    const h = hashesOf(chat('q'));
    const preferred = router.pick(routes('prefix', ids), h, none)?.instanceId ?? '';
    const busy = routes('prefix', ids, {
      [preferred]: { running: 256, waiting: 50, kvCacheUsage: 1 },
    });
    expect(router.pick(busy, h, none)?.instanceId).not.toBe(preferred);
  });

  it('routes a prefix the same way in another process', () => {
    const prompts = Array.from({ length: 200 }, (_, i) => `tenant ${i % 37} `.repeat(50) + `q${i}`);
    const here = prompts.map(
      (prompt) =>
        new Router(new LiveStats({ now: () => 0 })).pick(
          routes('prefix', ids),
          hashesOf({ prompt }),
          none,
        )?.instanceId,
    );
    const routerUrl = new URL('./router.ts', import.meta.url).href;
    const liveUrl = new URL('./live.ts', import.meta.url).href;
    const script = `
      const { Router, hashesOf } = await import(${JSON.stringify(routerUrl)});
      const { LiveStats } = await import(${JSON.stringify(liveUrl)});
      const ids = ${JSON.stringify(ids)};
      const routes = { model: 'm', policy: 'prefix', engine: new Map(),
        targets: ids.map((id) => ({ instanceId: id, deploymentId: 'd', nodeId: 'n', advertiseUrl: 'http://x', capacity: 256 })) };
      const prompts = ${JSON.stringify(prompts)};
      const router = new Router(new LiveStats({ now: () => 0 }));
      console.log(JSON.stringify(prompts.map((prompt) => router.pick(routes, hashesOf({ prompt }), new Set())?.instanceId)));
    `;
    const out = execFileSync(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        cwd: fileURLToPath(new URL('../../..', import.meta.url)),
        encoding: 'utf8',
      },
    );
    expect(JSON.parse(out)).toEqual(here);
    expect(new Set(here).size).toBeGreaterThan(1);
  });
});

describe('circuit breakers in routing', () => {
  it('keeps an open instance out of rotation, and routes among open ones when nothing else is left', () => {
    const live = new LiveStats({ now: () => 0, breaker: { failureThreshold: 1 } });
    const router = new Router(live);
    live.start('a').end('failed');
    const r = routes('round_robin', ['a', 'b']);
    const picks = Array.from({ length: 4 }, () => router.pick(r, [], none)?.instanceId);
    expect(picks).toEqual(['b', 'b', 'b', 'b']);
    expect(router.pick(r, [], new Set(['b']))?.instanceId).toBe('a');
  });
});
