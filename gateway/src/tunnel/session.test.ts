// The gateway's end of a tunnel against a scripted node: what it sends, what a slow reader
// makes it grant, and that bad frames end one stream only.
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeFrame,
  FRAME_TYPES,
  TUNNEL_MAX_PAYLOAD_BYTES,
  TUNNEL_WINDOW_BYTES,
  type Frame,
} from '../../../schema/tunnel.ts';
import { TunnelError, TunnelSession } from './session.ts';

function scripted() {
  const sent: Frame[] = [];
  const session = new TunnelSession({
    send: (data) => {
      const decoded = decodeFrame(data);
      if (!decoded.ok) throw new Error(`the session sent a bad frame: ${decoded.error}`);
      sent.push(decoded.frame);
    },
    close: () => undefined,
  });
  const node = (frame: Frame) => session.receive(encodeFrame(frame));
  const of = (type: Frame['type'], stream?: number) =>
    sent.filter((f) => f.type === type && (stream === undefined || f.stream === stream));
  return { session, sent, node, of };
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe('TunnelSession', () => {
  it('sends the request head, body and end, and answers with a streamed Response', async () => {
    const { session, node, of } = scripted();
    const pending = session.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: 'Bearer jwt', connection: 'keep-alive' },
      body: '{"model":"m"}',
      signal: new AbortController().signal,
    });
    await tick();
    const [request] = of('request');
    expect(request).toMatchObject({
      stream: 1,
      head: { method: 'POST', path: '/v1/chat/completions' },
    });
    if (request?.type !== 'request') throw new Error('no request frame');
    // Hop-by-hop headers stay on this side.
    expect(request.head.headers).toContainEqual(['authorization', 'Bearer jwt']);
    expect(request.head.headers.map(([name]) => name)).not.toContain('connection');
    expect(of('data', 1).length).toBe(1);
    expect(of('end', 1).length).toBe(1);

    node({ type: 'response', stream: 1, head: { status: 200, headers: [['x-node', 'yes']] } });
    // Out of order, as a Durable Object may deliver them: put back in order.
    node({ type: 'data', stream: 1, seq: 1, data: new TextEncoder().encode('world') });
    node({ type: 'end', stream: 1, seq: 2 });
    node({ type: 'data', stream: 1, seq: 0, data: new TextEncoder().encode('hello ') });
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.headers.get('x-node')).toBe('yes');
    expect(await res.text()).toBe('hello world');
    expect(session.openStreams).toBe(0);
  });

  it('sends a stream body (an upload) chunk by chunk, without a content-length', async () => {
    const { session, node, of } = scripted();
    const parts = ['--b\r\n', 'model field', ' and a file'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const part of parts) controller.enqueue(new TextEncoder().encode(part));
        controller.close();
      },
    });
    const pending = session.fetch('/v1/audio/transcriptions', {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=b' },
      body,
      signal: new AbortController().signal,
    });
    await tick();
    const [request] = of('request');
    if (request?.type !== 'request') throw new Error('no request frame');
    expect(request.head.headers.map(([name]) => name)).not.toContain('content-length');
    const data = of('data', 1).map((f) =>
      f.type === 'data' ? new TextDecoder().decode(f.data) : '',
    );
    expect(data.join('')).toBe(parts.join(''));
    expect(of('end', 1).length).toBe(1);
    node({ type: 'response', stream: 1, head: { status: 200, headers: [] } });
    node({ type: 'end', stream: 1, seq: 0 });
    expect((await pending).status).toBe(200);
  });

  it('grants credit only for what the reader took, and ends a stream that overruns it', async () => {
    const { session, node, of } = scripted();
    const pending = session.fetch('/v1/x', { method: 'GET', signal: new AbortController().signal });
    await tick();
    node({ type: 'response', stream: 1, head: { status: 200, headers: [] } });
    const res = await pending;
    const chunk = new Uint8Array(TUNNEL_MAX_PAYLOAD_BYTES);
    let seq = 0;
    for (let sent = 0; sent < TUNNEL_WINDOW_BYTES; sent += chunk.byteLength) {
      node({ type: 'data', stream: 1, seq: seq++, data: chunk });
    }
    // Nobody read yet: no credit, and everything the node may send is here.
    expect(of('window')).toEqual([]);
    const reader = res.body?.getReader();
    if (!reader) throw new Error('no body');
    let read = 0;
    while (read < TUNNEL_WINDOW_BYTES / 2) read += (await reader.read()).value?.byteLength ?? 0;
    expect(of('window', 1)).toEqual([{ type: 'window', stream: 1, credit: read }]);
    // Past what was granted: the stream ends, with an abort to the node.
    for (let sent = 0; sent <= read; sent += chunk.byteLength) {
      node({ type: 'data', stream: 1, seq: seq++, data: chunk });
    }
    expect(of('abort', 1)[0]).toMatchObject({ reason: 'data past the window' });
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return;
      })(),
    ).rejects.toBeInstanceOf(TunnelError);
  });

  it('ends only the stream a malformed frame names', async () => {
    const { session, node, of } = scripted();
    const signal = new AbortController().signal;
    const first = session.fetch('/v1/a', { method: 'GET', signal });
    const second = session.fetch('/v1/b', { method: 'GET', signal });
    await tick();
    const garbage = new Uint8Array([FRAME_TYPES.response, 0, 0, 0, 1, 0x7b]);
    session.receive(garbage);
    session.receive(new Uint8Array([1, 2]));
    await expect(first).rejects.toMatchObject({ code: 'node_tunnel_stream' });
    expect(of('abort', 1)[0]?.type).toBe('abort');
    node({ type: 'response', stream: 2, head: { status: 201, headers: [] } });
    node({ type: 'end', stream: 2, seq: 0 });
    expect((await second).status).toBe(201);
  });

  it('tells the node when the client leaves', async () => {
    const { session, node, of } = scripted();
    const controller = new AbortController();
    const pending = session.fetch('/v1/x', { method: 'GET', signal: controller.signal });
    await tick();
    node({ type: 'response', stream: 1, head: { status: 200, headers: [] } });
    const res = await pending;
    const reader = res.body?.getReader();
    controller.abort(new Error('client gone'));
    expect(of('abort', 1)[0]).toMatchObject({ reason: 'the client left' });
    await expect(reader?.read()).rejects.toBeInstanceOf(TunnelError);
    expect(session.openStreams).toBe(0);
  });

  it('fails open streams when the socket closes, and refuses new ones', async () => {
    const { session } = scripted();
    const pending = session.fetch('/v1/x', { method: 'GET', signal: new AbortController().signal });
    session.close('gone');
    await expect(pending).rejects.toMatchObject({ code: 'node_tunnel_closed' });
    await expect(
      session.fetch('/v1/x', { method: 'GET', signal: new AbortController().signal }),
    ).rejects.toMatchObject({ code: 'node_tunnel_closed' });
  });

  it('waits for credit before sending a body larger than a window', async () => {
    const { session, node, of } = scripted();
    const body = new Uint8Array(TUNNEL_WINDOW_BYTES + 1000);
    const pending = session.fetch('/v1/big', {
      method: 'POST',
      body,
      signal: new AbortController().signal,
    });
    await tick();
    const bytes = () =>
      of('data', 1).reduce((n, f) => n + (f.type === 'data' ? f.data.byteLength : 0), 0);
    expect(bytes()).toBe(TUNNEL_WINDOW_BYTES);
    expect(of('end', 1)).toEqual([]);
    node({ type: 'window', stream: 1, credit: 4096 });
    await tick();
    expect(bytes()).toBe(body.byteLength);
    expect(of('end', 1).length).toBe(1);
    node({ type: 'response', stream: 1, head: { status: 204, headers: [] } });
    expect((await pending).status).toBe(204);
  });
});
