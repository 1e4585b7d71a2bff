// What the router learns from the proxy (forward.ts's attempt hooks) against a real
// upstream: which outcomes count against an instance's circuit breaker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forward } from '../proxy/forward.ts';
import { createNodeHttpTransport } from '../proxy/node-transport.ts';
import { directTransport } from '../proxy/transport.ts';
import { startBlackhole } from '../testing/blackhole.ts';
import type { NodeTransport } from '../types.ts';
import { createSigner, generateSigningJwk } from '../signing/signer.ts';
import { refusedUrl, startFakeEngine, type FakeEngine } from '../testing/fake-engine.ts';
import type { Signer } from '../types.ts';
import { UsageMeter } from '../usage/meter.ts';
import { LiveStats, type AttemptOutcome } from './live.ts';

let signer: Signer;
let engine: FakeEngine;

beforeAll(async () => {
  signer = await createSigner(await generateSigningJwk());
  engine = await startFakeEngine({ jwks: () => signer.jwks() });
});
afterAll(async () => {
  await engine.close();
});

// Forwards one request to `urls` in turn and returns how each attempt ended.
async function outcomes(
  urls: string[],
  body: Record<string, unknown>,
  transport: NodeTransport = directTransport,
): Promise<{ outcomes: [string, AttemptOutcome][]; live: LiveStats }> {
  const live = new LiveStats({ now: Date.now });
  const seen: [string, AttemptOutcome][] = [];
  const targets = urls.map((advertiseUrl, i) => ({
    instanceId: `i${i}`,
    deploymentId: 'd',
    nodeId: `n${i}`,
    advertiseUrl,
  }));
  const stream = body.stream === true;
  const meter = new UsageMeter({
    id: 'r',
    keyId: 'k',
    endpoint: '/v1/chat/completions',
    now: Date.now,
  });
  meter.stream = stream;
  try {
    const forwarded = await forward(
      { signer, transport },
      {
        requestId: 'r',
        path: '/v1/chat/completions',
        model: 'm',
        body: { model: 'm', messages: [], ...body },
        stream,
        clientSignal: new AbortController().signal,
        meter,
        pick: (tried) => targets.find((t) => !tried.has(t.instanceId)),
        attempt: (t) => {
          const attempt = live.start(t.instanceId);
          return {
            instanceId: t.instanceId,
            end: (outcome, ttft) => {
              seen.push([t.instanceId, outcome]);
              attempt.end(outcome, ttft);
            },
          };
        },
      },
    );
    await forwarded.response.text();
    await forwarded.done;
  } catch {
    // Every attempt failed: the outcomes say how.
  }
  return { outcomes: seen, live };
}

describe('attempt outcomes for the circuit breakers', () => {
  it('a refused connection and a 5xx count against the instance; the next one serves', async () => {
    const { outcomes: seen, live } = await outcomes([await refusedUrl(), engine.url, engine.url], {
      scenario: 'fail-500',
    });
    expect(seen).toEqual([
      ['i0', 'failed'],
      ['i1', 'failed'],
      ['i2', 'failed'],
    ]);
    expect(live.get('i0')).toMatchObject({ inFlight: 0, recentFailures: 1 });
  });

  it('a node that does not accept within the connect timeout counts against it', async () => {
    const blackhole = await startBlackhole();
    try {
      const transport = createNodeHttpTransport({ connectTimeoutMs: 300 });
      const { outcomes: seen } = await outcomes([blackhole.url, engine.url], {}, transport);
      expect(seen).toEqual([
        ['i0', 'failed'],
        ['i1', 'ok'],
      ]);
    } finally {
      await blackhole.close();
    }
  });

  it('a stream that breaks before any output counts against it; one that broke later was served', async () => {
    expect(
      (await outcomes([engine.url], { stream: true, scenario: 'die-before-content' })).outcomes,
    ).toEqual([['i0', 'failed']]);
    expect(
      (await outcomes([engine.url], { stream: true, scenario: 'die-mid-stream' })).outcomes,
    ).toEqual([['i0', 'ok']]);
  });

  it('a refused request (4xx) and a good stream count as served, the stream with its TTFT', async () => {
    expect((await outcomes([engine.url], { scenario: 'bad-request' })).outcomes).toEqual([
      ['i0', 'ok'],
    ]);
    const { outcomes: seen, live } = await outcomes([engine.url], { stream: true });
    expect(seen).toEqual([['i0', 'ok']]);
    expect(live.get('i0').ttftMs).toBeGreaterThanOrEqual(0);
    expect(live.get('i0').inFlight).toBe(0);
  });
});
