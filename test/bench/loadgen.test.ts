// The load generator against real HTTP servers on ephemeral loopback ports: what it counts,
// what it calls a failure, and the JWT it signs. Timings are never asserted.
import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSigner, generateSigningJwk } from '../../gateway/src/signing/signer.ts';
import { runLoad, type LoadConfig, type LoadEvent } from './loadgen.ts';

const CHUNKS = 3;
let server: http.Server;
let base: string;
const authHeaders: string[] = [];

function sse(res: http.ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const next = () => {
    if (i < CHUNKS) {
      res.write(
        `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `t${i}` } }] })}\n\n`,
      );
      i += 1;
      setTimeout(next, 2);
    } else {
      res.end('data: [DONE]\n\n');
    }
  };
  res.write(
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { role: 'assistant' } }] })}\n\n`,
  );
  setTimeout(next, 2);
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    authHeaders.push(req.headers.authorization ?? '');
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw) as { stream?: boolean };
      if (req.url === '/fail') {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"engine down"}}');
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(`data: ${JSON.stringify({ choices: [{ delta: { content: 'x' } }] })}\n\n`);
      } else if (body.stream) {
        sse(res);
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ choices: [{ message: { role: 'assistant', content: 'hi' } }] }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function config(overrides: Partial<LoadConfig>): LoadConfig {
  return {
    url: `${base}/v1/chat/completions`,
    headers: {},
    body: { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true },
    stream: true,
    concurrency: 4,
    warmupMs: 50,
    durationMs: 300,
    timeoutMs: 5000,
    ...overrides,
  };
}

describe('runLoad', () => {
  it('counts streamed answers, their content chunks and their time to first token', async () => {
    const result = await runLoad(config({}));
    expect(result.failed).toBe(0);
    expect(result.completed).toBeGreaterThan(0);
    expect(result.chunksPerAnswer).toBe(CHUNKS);
    expect(result.ttftMs?.count).toBe(result.completed);
    expect(result.latencyMs.count).toBe(result.completed);
    expect(result.rps).toBeCloseTo(result.completed / 0.3);
    // Chunks inside the window: every answer finished in it, less what at most one answer
    // per client got before the window opened, plus what the answers still open at its
    // end got.
    expect(result.chunksInWindow).toBeGreaterThanOrEqual((result.completed - 4) * CHUNKS);
    expect(result.chunksInWindow).toBeLessThanOrEqual((result.completed + 4) * CHUNKS);
    // First token arrives before the answer ends.
    expect(result.ttftMs?.p50 ?? Infinity).toBeLessThanOrEqual(result.latencyMs.p50);
  });

  it('measures non-streaming answers without a time to first token', async () => {
    const result = await runLoad(
      config({ stream: false, body: { model: 'm', messages: [], stream: false } }),
    );
    expect(result.failed).toBe(0);
    expect(result.completed).toBeGreaterThan(0);
    expect(result.ttftMs).toBeNull();
    expect(result.chunksPerAnswer).toBeNull();
    expect(result.chunksInWindow).toBe(0);
  });

  it('counts HTTP errors and streams cut before [DONE] as failures', async () => {
    const failing = await runLoad(config({ url: `${base}/fail` }));
    expect(failing.completed).toBe(0);
    expect(failing.failed).toBeGreaterThan(0);
    expect(failing.errorSamples[0]).toMatch(/HTTP 500: .*engine down/);

    const cut = await runLoad(config({ url: `${base}/cut` }));
    expect(cut.completed).toBe(0);
    expect(cut.errorSamples).toContain('stream ended without [DONE]');
  });

  it('signs a fresh data-plane JWT for every request when asked', async () => {
    const jwk = await generateSigningJwk();
    const jwks = (await createSigner(jwk)).jwks();
    authHeaders.length = 0;
    const result = await runLoad(
      config({ jwt: { jwk, aud: 'node-1', instance: 'inst-1', model: 'm', ttlS: 60 } }),
    );
    const tokens = authHeaders.map((h) => h.replace(/^Bearer /, ''));
    expect(tokens.length).toBeGreaterThanOrEqual(result.completed);
    expect(new Set(tokens).size).toBe(tokens.length);
    const { payload } = await jwtVerify(tokens[0] ?? '', createLocalJWKSet(jwks), {
      issuer: 'fleetgate-gateway',
      audience: 'node-1',
    });
    expect(payload.instance).toBe('inst-1');
  });

  it("signs HS256 with the node's own key when the node holds the current one", async () => {
    const jwk = await generateSigningJwk();
    const gateway = await createSigner(jwk);
    const nodeKey = await gateway.nodeKey('node-1');
    authHeaders.length = 0;
    await runLoad(
      config({
        jwt: {
          jwk,
          aud: 'node-1',
          instance: 'inst-1',
          model: 'm',
          ttlS: 60,
          nodeKeyId: nodeKey.kid,
        },
      }),
    );
    const token = authHeaders[0]?.replace(/^Bearer /, '') ?? '';
    const { payload, protectedHeader } = await jwtVerify(
      token,
      Buffer.from(nodeKey.key, 'base64url'),
      { issuer: 'fleetgate-gateway', audience: 'node-1', algorithms: ['HS256'] },
    );
    expect(protectedHeader.kid).toBe(nodeKey.kid);
    expect(payload.instance).toBe('inst-1');
  });

  it('calls the window callbacks exactly once each, start before end', async () => {
    const calls: string[] = [];
    for (const durationMs of [1, 50]) {
      calls.length = 0;
      await runLoad(config({ warmupMs: 0, durationMs }), {
        windowStart: () => calls.push('start'),
        windowEnd: () => calls.push('end'),
      });
      expect(calls).toEqual(['start', 'end']);
    }
  });

  it('refuses anything but loopback', async () => {
    await expect(
      runLoad(config({ url: 'http://example.com/v1/chat/completions' })),
    ).rejects.toThrow(/loopback/);
  });
});

describe('loadgen process', () => {
  it('announces the measuring window and answers with a result over JSON lines', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/loadgen.ts'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    const events: LoadEvent[] = [];
    const lines = createInterface({ input: child.stdout });
    const done = new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        const event = JSON.parse(line) as LoadEvent;
        events.push(event);
        if (event.type === 'ready') {
          child.stdin.write(`${JSON.stringify({ type: 'run', id: 'r1', config: config({}) })}\n`);
        }
        if (event.type === 'result' || event.type === 'error') resolve();
      });
    });
    await done;
    child.stdin.end();
    await new Promise((r) => child.once('exit', r));
    expect(events.map((e) => e.type)).toEqual(['ready', 'window-start', 'window-end', 'result']);
    const last = events.at(-1);
    expect(last?.type === 'result' && last.result.completed).toBeGreaterThan(0);
  });
});
