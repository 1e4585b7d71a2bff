import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from '../../gpu-node/src/sim/server.ts';
import { createFloor } from './floor.ts';

const MODEL = 'floor-test';
let sim: SimServer;
let floor: http.Server;
let floorUrl: string;

beforeAll(async () => {
  sim = await startSim({ model: MODEL, ttftMs: 5, itlMs: 1, prefillMsPerToken: 0, jitter: 0 });
  floor = createFloor(new URL(sim.url));
  await new Promise<void>((resolve) => floor.listen(0, '127.0.0.1', resolve));
  floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}`;
});
afterAll(async () => {
  floor.closeAllConnections();
  await new Promise((resolve) => floor.close(resolve));
  await sim.close();
});

function chat(base: string, stream: boolean, seed: number) {
  return fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: 'hello floor' }],
      max_tokens: 7,
      seed,
      stream,
    }),
  });
}

describe('the bench floor (path m)', () => {
  it('forwards the body and passes a streamed answer through byte for byte', async () => {
    const [direct, through] = await Promise.all([chat(sim.url, true, 3), chat(floorUrl, true, 3)]);
    expect(through.status).toBe(200);
    expect(through.headers.get('content-type')).toBe(direct.headers.get('content-type'));
    const strip = (text: string) => text.replace(/"(id|created)":("[^"]*"|\d+)/g, '');
    const [a, b] = await Promise.all([direct.text(), through.text()]);
    expect(b).toContain('data: [DONE]');
    expect(strip(b)).toBe(strip(a));
  });

  it('passes the upstream status and error body through', async () => {
    const res = await fetch(`${floorUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'no-such-model', messages: [] }),
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const body = await res.json<{ error?: { message?: string } }>();
    expect(body.error?.message).toBeTruthy();
  });

  it('answers 502 when the upstream is gone', async () => {
    const dead = createFloor(new URL('http://127.0.0.1:1'));
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    const res = await chat(url, false, 1);
    expect(res.status).toBe(502);
    dead.closeAllConnections();
    await new Promise((resolve) => dead.close(resolve));
  });
});
