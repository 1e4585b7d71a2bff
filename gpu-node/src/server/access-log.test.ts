import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UnsecuredJWT } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACCESS_LOG_FLUSH_MS } from '../../../schema/log-lines.ts';
import {
  batchedStdout,
  dataPlaneAccessLog,
  noteVerifiedClaims,
  type AccessLog,
} from './access-log.ts';

// A real server on 127.0.0.1 that logs with `log` and answers as the path says.
async function serve(log: AccessLog | undefined): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    log?.(req, res, req.url ?? '/');
    // The daemon notes the claims of the token it verified.
    if (req.url === '/v1/verified') {
      noteVerifiedClaims(req, { aud: 'node_v', instance: 'inst_v', model: 'verified/m' });
    }
    if (req.url === '/v1/denied') {
      res.writeHead(401).end('{}');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('hello ');
    // A stream that goes on until the client leaves.
    if (req.url === '/v1/endless') return;
    setTimeout(() => res.end('world'), 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const jwt = new UnsecuredJWT({ instance: 'inst_1', model: 'org/m' }).setAudience('node_1').encode();

describe('the daemon access log', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  it('writes one JSON line per data-plane request when the answer is over', async () => {
    const lines: string[] = [];
    const started = await serve(dataPlaneAccessLog(undefined, (l) => lines.push(l)));
    server = started.server;
    const res = await fetch(`${started.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}`, 'x-request-id': 'req-1' },
      body: '{"model":"m"}',
    });
    expect(await res.text()).toBe('hello world');
    await fetch(`${started.url}/healthz`).then((r) => r.text());
    await fetch(`${started.url}/v1/denied`, {
      headers: { authorization: `Bearer ${jwt}` },
    }).then((r) => r.text());
    await expect.poll(() => lines.length).toBe(2);
    const [ok, denied] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(ok).toMatchObject({
      request_id: 'req-1',
      method: 'POST',
      path: '/v1/chat/completions',
      status: 200,
      model: 'org/m',
      node_id: 'node_1',
      instance_id: 'inst_1',
      bytes_in: 13,
      outcome: 'ok',
    });
    expect(ok?.bytes_out).toBeGreaterThan('hello world'.length);
    // A refused token is not read for names.
    expect(denied).toMatchObject({ status: 401, outcome: 'error', instance_id: null });
    expect(lines.join('\n')).not.toContain(jwt);
  });

  it('writes text lines, nothing when off, and refuses a bad setting', () => {
    expect(dataPlaneAccessLog('off')).toBeUndefined();
    expect(dataPlaneAccessLog('TEXT')).toBeTypeOf('function');
    expect(() => dataPlaneAccessLog('xml')).toThrow(/FLEETGATE_ACCESS_LOG: must be one of/);
  });

  it('marks an answer the gateway left as client_aborted', async () => {
    const lines: string[] = [];
    const started = await serve(dataPlaneAccessLog('text', (l) => lines.push(l)));
    server = started.server;
    const controller = new AbortController();
    const res = await fetch(`${started.url}/v1/endless`, { signal: controller.signal });
    const reader = res.body?.getReader();
    await reader?.read();
    controller.abort();
    await expect.poll(() => lines.length).toBe(1);
    expect(lines[0]).toMatch(/ GET \/v1\/endless 200 \d+ms .* outcome=client_aborted /);
  });

  it('names the instance from the verified claims when the server noted them', async () => {
    const lines: string[] = [];
    const started = await serve(dataPlaneAccessLog(undefined, (l) => lines.push(l)));
    server = started.server;
    await fetch(`${started.url}/v1/verified`, {
      headers: { authorization: `Bearer ${jwt}` },
    }).then((r) => r.text());
    await expect.poll(() => lines.length).toBe(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      node_id: 'node_v',
      instance_id: 'inst_v',
      model: 'verified/m',
    });
  });
});

describe('batchedStdout', () => {
  it('writes what is queued to stdout', () => {
    vi.useFakeTimers();
    const writes: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const print = batchedStdout();
      print('a');
      print('b');
      vi.advanceTimersByTime(ACCESS_LOG_FLUSH_MS);
      expect(writes).toEqual(['a\nb\n']);
    } finally {
      spy.mockRestore();
      vi.useRealTimers();
    }
  });
});
