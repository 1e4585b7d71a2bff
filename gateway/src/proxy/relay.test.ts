// The relay on in-memory streams: what reaches the client and what the meter sees, for
// engine output cut into chunks at arbitrary places.
import { describe, expect, it } from 'vitest';
import { UsageMeter } from '../usage/meter.ts';
import { MAX_HELD_BYTES, relaySse } from './relay.ts';
import { UpstreamAbort } from './upstream.ts';

const encoder = new TextEncoder();

function source(text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = encoder.encode(text);
  const bounds = [0, ...cuts, bytes.length];
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i + 1 >= bounds.length) return controller.close();
      controller.enqueue(bytes.slice(bounds[i], bounds[i + 1]));
      i += 1;
    },
  });
}

async function run(text: string, cuts: number[], clientWantsUsage: boolean) {
  const meter = new UsageMeter({
    id: 'r',
    keyId: null,
    endpoint: '/v1/completions',
    now: Date.now,
  });
  meter.stream = true;
  const upstream = new UpstreamAbort(new AbortController().signal);
  const relay = relaySse(source(text, cuts), {
    clientWantsUsage,
    meter,
    upstream,
    clientSignal: new AbortController().signal,
    idleTimeoutMs: 60_000,
  });
  const out = await new Response(relay.stream).text();
  await relay.done;
  return { out, event: meter.finish() };
}

const USAGE = '{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}';
const STREAM =
  'data: {"choices":[{"index":0,"text":"ä"}]}\r\n\r\n' +
  ': keep-alive\r\n\r\n' +
  'data: {"choices":[{"index":0,"text":"b"}]}\r\n\r\n' +
  `data: {"choices":[],"usage":${USAGE}}\r\n\r\n` +
  'data: [DONE]\r\n\r\n';

describe('relaySse', () => {
  it('drops exactly the usage block wherever the stream is cut, and meters it', async () => {
    const expected = STREAM.replace(`data: {"choices":[],"usage":${USAGE}}\r\n\r\n`, '');
    const length = encoder.encode(STREAM).length;
    for (let cut = 1; cut < length; cut += 3) {
      const { out, event } = await run(STREAM, [cut], false);
      expect(out).toBe(expected);
      expect(event).toMatchObject({
        outcome: 'ok',
        promptTokens: 5,
        completionTokens: 2,
        totalTokens: 7,
      });
      expect(event.ttftMs).not.toBeNull();
    }
  });

  it('passes everything through when the client asked for usage', async () => {
    const { out } = await run(STREAM, [10, 60], true);
    expect(out).toBe(STREAM);
  });

  it('counts output deltas when no usage arrives, and completes a [DONE] missing its blank line', async () => {
    const text = STREAM.replace(`data: {"choices":[],"usage":${USAGE}}\r\n\r\n`, '').replace(
      'data: [DONE]\r\n\r\n',
      'data: [DONE]',
    );
    const { out, event } = await run(text, [], false);
    expect(out.endsWith('data: [DONE]\n\n')).toBe(true);
    expect(event).toMatchObject({ outcome: 'ok', promptTokens: 0, completionTokens: 2 });
  });

  it('records an `event: error` block as a failed request and passes it on', async () => {
    const text =
      'data: {"choices":[{"index":0,"text":"a"}]}\n\n' +
      'event: error\ndata: {"error":{"message":"engine died","code":"engine_error"}}\n\n';
    const { out, event } = await run(text, [7], false);
    expect(out).toBe(text);
    expect(event).toMatchObject({
      outcome: 'error',
      errorCode: 'engine_error',
      completionTokens: 1,
    });
  });

  it('drops a block cut off by the end and closes with an error event', async () => {
    const text = 'data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: {"choi';
    const { out, event } = await run(text, [], false);
    expect(out.startsWith('data: {"choices":[{"index":0,"text":"a"}]}\n\ndata: {"error":')).toBe(
      true,
    );
    expect(event).toMatchObject({ outcome: 'upstream_error', errorCode: 'upstream_incomplete' });
  });

  it('ends the stream with an error event when a node sends a line over the 4 MiB cap', async () => {
    const first = 'data: {"choices":[{"index":0,"text":"a"}]}\n\n';
    const text = `${first}data: ${'x'.repeat(5 * 1024 * 1024)}`;
    const cuts = Array.from({ length: 80 }, (_, i) => first.length + (i + 1) * 65_536);
    const { out, event } = await run(text, cuts, false);
    expect(out.startsWith(first)).toBe(true);
    const last = out.slice(first.length);
    expect(last.length).toBeLessThan(1000);
    expect(JSON.parse(last.replace(/^data: /, ''))).toMatchObject({
      error: { code: 'upstream_stream_too_large' },
    });
    expect(event).toMatchObject({
      outcome: 'upstream_error',
      errorCode: 'upstream_stream_too_large',
    });
  });

  it('passes blocks through byte for byte however multi-byte characters are cut', async () => {
    // Blocks that start and end with multi-byte characters, so a chunk boundary right after
    // a blank line can still leave half a character in the decoder.
    const text =
      'data: {"choices":[{"index":0,"text":"é"}]}\n\n' +
      'ü: an ignored field\n\n' +
      ': 😀\n\n' +
      'data: {"choices":[{"index":0,"text":"ß"}]}\n\n' +
      `ö: a block the relay drops\ndata: {"choices":[],"usage":${USAGE}}\n\n` +
      'data: [DONE]\n\n';
    const expected = text.replace(/ö: a block[^]*?\n\n/, '');
    const length = encoder.encode(text).length;
    const everyByte = Array.from({ length: length - 1 }, (_, i) => i + 1);
    expect((await run(text, everyByte, false)).out).toBe(expected);
    for (let cut = 1; cut < length; cut += 1) {
      const { out, event } = await run(text, [cut], false);
      expect(out).toBe(expected);
      expect(event).toMatchObject({ outcome: 'ok', completionTokens: 2, promptTokens: 5 });
      expect((await run(text, [cut], true)).out).toBe(text);
    }
  });
});

// start(): the part of a stream before its first content, held until that content.
function erroring(text: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) return controller.error(new Error('connection reset'));
      sent = true;
      controller.enqueue(encoder.encode(text));
    },
  });
}

async function started(body: ReadableStream<Uint8Array>) {
  const meter = new UsageMeter({
    id: 'r',
    keyId: null,
    endpoint: '/v1/completions',
    now: Date.now,
  });
  meter.stream = true;
  const upstream = new UpstreamAbort(new AbortController().signal);
  const relay = relaySse(body, {
    clientWantsUsage: false,
    meter,
    upstream,
    clientSignal: new AbortController().signal,
    idleTimeoutMs: 60_000,
  });
  const start = await relay.start();
  const out = start.kind === 'live' ? await new Response(relay.stream).text() : null;
  await relay.done;
  return { start, out, event: meter.finish(), aborted: upstream.signal.aborted };
}

const ROLE = 'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n';
const CONTENT = 'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n';
const FINISH = 'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n';
const ERROR = (code: number | string, type: string) =>
  `data: ${JSON.stringify({ error: { message: 'engine failed', type, code } })}\n\n`;

describe('relaySse start()', () => {
  it('holds the blocks before the first content and sends them first, byte for byte', async () => {
    const text = `${ROLE}: ping\n\n${CONTENT}${FINISH}data: {"choices":[],"usage":${USAGE}}\n\ndata: [DONE]\n\n`;
    const expected = text.replace(`data: {"choices":[],"usage":${USAGE}}\n\n`, '');
    const length = encoder.encode(text).length;
    for (let cut = 1; cut < length; cut += 7) {
      const { start, out, event } = await started(source(text, [cut, cut + 40]));
      expect(start).toEqual({ kind: 'live' });
      expect(out).toBe(expected);
      expect(event).toMatchObject({ outcome: 'ok', promptTokens: 5, completionTokens: 2 });
    }
  });

  it('fails over on an error before content that does not blame the request', async () => {
    for (const text of [
      `${ROLE}${ERROR(500, 'InternalServerError')}data: [DONE]\n\n`,
      `${ROLE}event: error\ndata: {"error":{"message":"engine failed","code":"engine_dead"}}\n\n`,
      `${ROLE}${ERROR(429, 'RateLimitError')}`,
    ]) {
      const { start, aborted } = await started(source(text, [ROLE.length]));
      expect(start).toEqual({
        kind: 'failed',
        reason: 'error event before any content: engine failed',
      });
      expect(aborted).toBe(true);
    }
  });

  it('passes on an error that blames the request, as after content', async () => {
    const text = `${ROLE}${ERROR(400, 'BadRequestError')}data: [DONE]\n\n`;
    const { start, out, event } = await started(source(text, [5]));
    expect(start).toEqual({ kind: 'live' });
    expect(out).toBe(text);
    expect(event).toMatchObject({ outcome: 'error', errorCode: '400' });
  });

  it('fails over on an end without [DONE] or a dropped connection before content', async () => {
    expect((await started(source(`${ROLE}: ping\n\n`, []))).start).toEqual({
      kind: 'failed',
      reason: 'the stream ended before any content',
    });
    const dropped = await started(erroring(ROLE));
    expect(dropped.start.kind).toBe('failed');
    expect(dropped.start.kind === 'failed' && dropped.start.reason).toMatch(/connection reset/);
  });

  it('sends a whole stream without content as it came', async () => {
    const text = `${ROLE}${FINISH}data: [DONE]\n\n`;
    const { start, out, event } = await started(source(text, [3]));
    expect(start).toEqual({ kind: 'live' });
    expect(out).toBe(text);
    expect(event).toMatchObject({ outcome: 'ok', completionTokens: 0 });
  });

  it('stops holding after MAX_HELD_BYTES without content', async () => {
    const comment = `: ${'x'.repeat(64 * 1024)}\n\n`;
    const comments = comment.repeat(Math.ceil(MAX_HELD_BYTES / comment.length) + 1);
    const text = `${ROLE}${comments}${CONTENT}data: [DONE]\n\n`;
    const cuts = Array.from({ length: 70 }, (_, i) => ROLE.length + i * comment.length);
    const { start, out } = await started(source(text, cuts));
    expect(start).toEqual({ kind: 'live' });
    expect(out).toBe(text);
  });
});
