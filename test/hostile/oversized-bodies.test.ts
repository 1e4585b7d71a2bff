// Oversized request bodies against the real Node host (startGateway over HTTP on 127.0.0.1):
// every client gets the 413 in OpenAI's shape, never a connection reset, whether the body
// is declared or chunked, within the drain bounds or far beyond them.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../gateway/src/node.ts';

const ADMIN = 'hostile-admin-token-0123456789';
const MAX_BODY = 1024 * 1024;
let dir: string;
let gw: RunningGateway;
let apiKey: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-hostile-bodies-'));
  gw = await startGateway({
    env: {
      FLEETGATE_ADMIN_TOKEN: ADMIN,
      FLEETGATE_DB_URL: `file:${join(dir, 'gw.db')}`,
      FLEETGATE_PORT: '0',
      FLEETGATE_HOST: '127.0.0.1',
      FLEETGATE_MAX_BODY_BYTES: String(MAX_BODY),
    },
  });
  const res = await fetch(`${gw.url}/admin/v1/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'hostile' }),
  });
  apiKey = (await res.json<{ key: string }>()).key;
});

afterAll(async () => {
  await gw.close();
  await rm(dir, { recursive: true, force: true });
});

const bigChat = (bytes: number) =>
  JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(bytes) }] });

describe('oversized bodies on the Node host', () => {
  it('answers 20 posts of 2 MiB from fetch with the 413 JSON, none with a reset', async () => {
    const body = bigChat(2 * 1024 * 1024);
    for (let i = 0; i < 20; i += 1) {
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toEqual({
        error: {
          message: expect.stringContaining('bytes') as unknown,
          type: 'invalid_request_error',
          param: null,
          code: 'request_too_large',
        },
      });
    }
  });

  it('keeps the connection usable: 20 refused posts and a good request share one socket', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = (path: string, body: string, token: string) =>
      new Promise<{ status: number; reused: boolean; text: string }>((resolve, reject) => {
        const req = httpRequest(`${gw.url}${path}`, {
          agent,
          method: 'POST',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        });
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket, text }),
          );
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const body = bigChat(2 * 1024 * 1024);
      for (let i = 0; i < 20; i += 1) {
        const res = await post('/v1/chat/completions', body, apiKey);
        expect(res.status).toBe(413);
        expect(JSON.parse(res.text)).toMatchObject({ error: { code: 'request_too_large' } });
        if (i > 0) expect(res.reused).toBe(true);
      }
      const next = await post('/admin/v1/keys', JSON.stringify({ name: 'after' }), ADMIN);
      expect(next.status).toBe(201);
      expect(next.reused).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('does the same for 2 MiB sent chunked, with no Content-Length', async () => {
    const bytes = new TextEncoder().encode(bigChat(2 * 1024 * 1024));
    for (let i = 0; i < 5; i += 1) {
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (offset >= bytes.length) return controller.close();
          controller.enqueue(bytes.subarray(offset, offset + 64 * 1024));
          offset += 64 * 1024;
        },
      });
      const res = await fetch(`${gw.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ error: { code: 'request_too_large' } });
    }
  });

  it('gives the official SDK an APIError 413, not a connection error', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey, maxRetries: 0 });
    const error = await client.chat.completions
      .create({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(2 * 1024 * 1024) }] })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(APIError);
    expect(error).toMatchObject({ status: 413, code: 'request_too_large' });
  });

  it('answers a body far beyond the drain bounds with 413 and a lingering close, not a reset', async () => {
    // 40 MiB declared: more than the gateway will read, so it says connection: close and
    // lingers while the client is still sending.
    const size = 40 * 1024 * 1024;
    const result = await new Promise<{ status: number; connection: unknown; text: string }>(
      (resolve, reject) => {
        const req = httpRequest(`${gw.url}/v1/chat/completions`, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${apiKey}`,
            'content-type': 'application/json',
            'content-length': size,
          },
        });
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => {
            resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text });
          });
        });
        req.on('error', reject);
        const piece = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const write = () => {
          while (sent < size) {
            sent += piece.length;
            if (!req.write(piece)) return void req.once('drain', write);
          }
          req.end();
        };
        write();
      },
    );
    expect(result.status).toBe(413);
    expect(result.connection).toBe('close');
    expect(JSON.parse(result.text)).toMatchObject({ error: { code: 'request_too_large' } });
  });
});
