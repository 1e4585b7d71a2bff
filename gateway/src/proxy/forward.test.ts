// forward() on its own against real upstream servers, for what the app cannot reach
// through its fixed configuration: short timeouts and a node that refuses the gateway.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, generateSigningJwk } from '../signing/signer.ts';
import { startBlackhole } from '../testing/blackhole.ts';
import { ENGINE_USAGE, startFakeEngine, type FakeEngine } from '../testing/fake-engine.ts';
import type { Signer } from '../types.ts';
import { UsageMeter } from '../usage/meter.ts';
import { forward, type ForwardRequest } from './forward.ts';
import { createNodeHttpTransport, nodeHttpTransport } from './node-transport.ts';
import type { DirectAnswer } from './relay-node.ts';
import { directTransport } from './transport.ts';

let signer: Signer;
let engine: FakeEngine;

beforeAll(async () => {
  signer = await createSigner(await generateSigningJwk());
  engine = await startFakeEngine({ jwks: () => signer.jwks() });
});

afterAll(async () => {
  await engine.close();
});

function request(
  body: Record<string, unknown>,
  targets: string[],
  clientSignal = new AbortController().signal,
): ForwardRequest & { meter: UsageMeter } {
  const meter = new UsageMeter({
    id: 'req-1',
    keyId: 'k',
    endpoint: '/v1/chat/completions',
    now: Date.now,
  });
  meter.stream = body.stream === true;
  const list = targets.map((advertiseUrl, i) => ({
    instanceId: `i${i}`,
    deploymentId: 'd',
    nodeId: `n${i}`,
    advertiseUrl,
  }));
  return {
    requestId: 'req-1',
    path: '/v1/chat/completions',
    model: 'm',
    body: { model: 'm', messages: [], ...body },
    stream: body.stream === true,
    clientSignal,
    meter,
    pick: (tried) => list.find((t) => !tried.has(t.instanceId)),
  };
}

// The Node host's way (direct-streams.ts): a stream handed over is written to a real
// ServerResponse, read here over loopback as a client reads it.
const handedOver: DirectAnswer[] = [];
let host: Server;
let hostUrl: string;

beforeAll(async () => {
  host = createServer((_req, res) => {
    const answer = handedOver.shift();
    if (!answer) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    answer.sendTo(res);
  });
  await new Promise<void>((resolve) => host.listen(0, '127.0.0.1', resolve));
  hostUrl = `http://127.0.0.1:${(host.address() as AddressInfo).port}`;
});

afterAll(async () => {
  host.closeAllConnections();
  await new Promise((resolve) => host.close(resolve));
});

const forwardDirect: typeof forward = async (deps, req) => {
  const forwarded = await forward(deps, { ...req, direct: true });
  if (!forwarded.direct) {
    // Without this the variant could pass on the Web-streams path alone.
    if (req.stream && forwarded.response.status === 200) throw new Error('not handed over');
    return forwarded;
  }
  handedOver.push(forwarded.direct);
  return { ...forwarded, response: await fetch(hostUrl) };
};

// Both transports: fetch (either host) and node:http (the Node host), whose streams the
// Node host relays from node:http's events and sends itself.
describe.each([
  ['fetch', directTransport, forward],
  ['node:http', nodeHttpTransport, forward],
  ['node:http, streams sent by the host', nodeHttpTransport, forwardDirect],
])('forward over %s', (_name, transport, run) => {
  it('ends a stream whose node falls silent with an error event, and aborts the node request', async () => {
    const req = request({ stream: true, scenario: 'silent' }, [engine.url]);
    const before = engine.received.length;
    const { response, done } = await run(
      { signer, transport, timeouts: { streamIdleMs: 100 } },
      req,
    );
    const text = await response.text();
    await done;
    expect(text).toContain('"first"');
    expect(text.trimEnd().split('\n\n').at(-1)).toContain('"code":"upstream_timeout"');
    const event = req.meter.finish();
    expect(event).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_timeout',
      completionTokens: 1,
    });
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
  });

  it('reads on for usage only a bounded grace after the client left, then charges the estimate', async () => {
    const req = request({ stream: true, scenario: 'finish-then-silent' }, [engine.url]);
    req.meter.estimatePrompt = () => 7;
    const before = engine.received.length;
    const { response, done } = await run(
      { signer, transport, timeouts: { abortGraceMs: 100 } },
      req,
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while (!seen.includes('"finish_reason":"stop"')) {
      const { value, done: ended } = await reader.read();
      if (ended) throw new Error('the stream ended before finish_reason');
      seen += new TextDecoder().decode(value);
    }
    await reader.cancel();
    await done;
    expect(req.meter.finish()).toMatchObject({
      outcome: 'client_aborted',
      promptTokens: 7,
      completionTokens: 3,
      totalTokens: 10,
    });
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
  });

  it('answers 504 when a non-streamed answer takes too long, without retrying', async () => {
    const req = request({ scenario: 'slow' }, [engine.url, engine.url]);
    const before = engine.received.length;
    await expect(
      run({ signer, transport, timeouts: { answerMs: 100 } }, req),
    ).rejects.toMatchObject({ status: 504, code: 'upstream_timeout' });
    // Under load the engine may record the request after the gateway gave up on it; the
    // second instance must never see it either way.
    await expect.poll(() => engine.received.length).toBe(before + 1);
    expect(req.meter.finish()).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_timeout',
    });
  });

  it('refuses a non-streamed answer over the byte cap with 502, declared or not', async () => {
    const declared = request({}, [engine.url]);
    await expect(run({ signer, transport, maxAnswerBytes: 100 }, declared)).rejects.toMatchObject({
      status: 502,
      code: 'upstream_response_too_large',
    });
    // A body with no Content-Length that never ends: the read stops at the cap and the
    // connection to the node is closed.
    const endless = request({ scenario: 'endless-answer' }, [engine.url]);
    const before = engine.received.length;
    await expect(
      run({ signer, transport, maxAnswerBytes: 256 * 1024 }, endless),
    ).rejects.toMatchObject({ status: 502, code: 'upstream_response_too_large' });
    expect(endless.meter.finish()).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_response_too_large',
    });
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
  });

  it('records a client that left before any answer, and the abort reaches the node', async () => {
    const client = new AbortController();
    const req = request({ scenario: 'slow' }, [engine.url], client.signal);
    const before = engine.received.length;
    const pending = run({ signer, transport }, req);
    await expect.poll(() => engine.received.length).toBe(before + 1);
    client.abort();
    const { response } = await pending;
    expect(response.status).toBe(499);
    expect(req.meter.finish()).toMatchObject({ status: 499, outcome: 'client_aborted' });
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
  });

  it('moves a stream that failed before any content to the next instance, metering only that one', async () => {
    const broken = await startFakeEngine({
      jwks: () => signer.jwks(),
      force: 'error-before-content',
    });
    try {
      const req = request({ stream: true }, [broken.url, engine.url]);
      const { response, done, failures } = await run({ signer, transport }, req);
      expect(response.status).toBe(200);
      const text = await response.text();
      await done;
      expect(text).toContain('"content":"Hel"');
      expect(text).not.toContain('error');
      expect(failures).toEqual([
        'n0: error event before any content: engine crashed during prefill',
      ]);
      expect(req.meter.finish()).toMatchObject({
        nodeId: 'n1',
        instanceId: 'i1',
        status: 200,
        outcome: 'ok',
        errorCode: null,
        promptTokens: ENGINE_USAGE.prompt_tokens,
        completionTokens: ENGINE_USAGE.completion_tokens,
      });
    } finally {
      await broken.close();
    }
  });

  it('answers 504 when a stream falls silent before any content, without retrying', async () => {
    const req = request({ stream: true, scenario: 'silent-before-content' }, [
      engine.url,
      engine.url,
    ]);
    const before = engine.received.length;
    await expect(
      run({ signer, transport, timeouts: { streamIdleMs: 100 } }, req),
    ).rejects.toMatchObject({ status: 504, code: 'upstream_timeout' });
    expect(engine.received.length).toBe(before + 1);
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
  });

  it('records a client that left before the first content as 499, aborting the node, no retry', async () => {
    const client = new AbortController();
    const req = request(
      { stream: true, scenario: 'silent-before-content' },
      [engine.url, engine.url],
      client.signal,
    );
    const before = engine.received.length;
    const pending = run({ signer, transport }, req);
    await expect.poll(() => engine.received[before]?.sent).toContain('"role"');
    client.abort();
    const { response } = await pending;
    expect(response.status).toBe(499);
    expect(req.meter.finish()).toMatchObject({ status: 499, outcome: 'client_aborted' });
    await expect.poll(() => engine.received[before]?.aborted).toBe(true);
    expect(engine.received.length).toBe(before + 1);
  });

  it('does not pass a node’s refusal of the gateway JWT to the client as its own 401', async () => {
    const stranger = await createSigner(await generateSigningJwk());
    const req = request({}, [engine.url, engine.url]);
    const before = engine.received.length;
    await expect(run({ signer: stranger, transport }, req)).rejects.toMatchObject({
      status: 502,
      code: 'upstream_error',
    });
    // Both instances were tried; the fake engine rejects what it cannot verify.
    expect(engine.received.length).toBe(before + 2);
  });
});

describe('forward over node:http with a connect timeout', () => {
  it('moves on to a healthy instance when a node does not accept, naming the connect timeout', async () => {
    const blackhole = await startBlackhole();
    try {
      const transport = createNodeHttpTransport({ connectTimeoutMs: 300 });
      const req = request({}, [blackhole.url, engine.url]);
      const { response, failures } = await forward({ signer, transport }, req);
      expect(response.status).toBe(200);
      expect(req.meter.finish()).toMatchObject({ nodeId: 'n1', instanceId: 'i1', outcome: 'ok' });
      expect(failures).toHaveLength(1);
      expect(failures[0]).toMatch(/^n0: connect timeout/);
    } finally {
      await blackhole.close();
    }
  });
});
