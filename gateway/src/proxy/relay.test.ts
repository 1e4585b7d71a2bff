// The relay on in-memory streams: what reaches the client and what the meter sees, for
// engine output cut into chunks at arbitrary places.
import { describe, expect, it } from 'vitest';
import { UsageMeter } from '../usage/meter.ts';
import { relaySse } from './relay.ts';
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
