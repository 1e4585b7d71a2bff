import { describe, expect, it } from 'vitest';
import { blamesRequest, inspectChunk, parseObject, readError, readUsage } from './inspect.ts';
import { DONE, SseLimitError, SseParser, withData, type SseEvent } from './parser.ts';

// A stream as vLLM sends it with include_usage, plus what other engines add: a keep-alive
// comment, an `event:` line, a multi-line data field, and multi-byte UTF-8 in the content.
const chunk = (delta: object, finish: string | null = null) =>
  JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
const RECORDED = [
  `data: ${chunk({ role: 'assistant', content: '' })}\n\n`,
  ': ping\n\n',
  `data: ${chunk({ content: 'Grüß' })}\n\n`,
  `data: ${chunk({ content: ' 世界 🚀' })}\n\n`,
  'event: message\nid: 7\ndata: {"a":\ndata: 1}\n\n',
  `data: ${chunk({}, 'stop')}\n\n`,
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"total_tokens":12,"completion_tokens":3}}\n\n`,
  'data: [DONE]\n\n',
].join('');

type Plain = Pick<SseEvent, 'raw' | 'event' | 'data' | 'complete'>;
const plain = (events: SseEvent[]): Plain[] =>
  events.map(({ raw, event, data, complete }) => ({ raw, event, data, complete }));

function parseAll(chunks: (Uint8Array | string)[]): SseEvent[] {
  const parser = new SseParser();
  const events = chunks.flatMap((c) => parser.push(c));
  return [...events, ...parser.end()];
}

describe('SseParser', () => {
  const bytes = new TextEncoder().encode(RECORDED);
  const whole = parseAll([bytes]);

  it('splits a recorded stream into its blocks and fields', () => {
    expect(whole).toHaveLength(8);
    expect(whole.map((e) => e.raw).join('')).toBe(RECORDED);
    expect(whole[1]).toMatchObject({ data: undefined, rest: ': ping\n' });
    expect(whole[4]).toMatchObject({ event: 'message', data: '{"a":\n1}' });
    expect(whole[4]?.rest).toBe('event: message\nid: 7\n');
    expect(parseObject(whole[2]?.data ?? '')).toMatchObject({
      choices: [{ delta: { content: 'Grüß' } }],
    });
    expect(whole[7]?.data).toBe(DONE);
    expect(whole.every((e) => e.complete)).toBe(true);
  });

  it('gives the same blocks wherever the byte stream is split, inside UTF-8 sequences too', () => {
    for (let cut = 1; cut < bytes.length; cut += 1) {
      expect(plain(parseAll([bytes.subarray(0, cut), bytes.subarray(cut)]))).toEqual(plain(whole));
    }
    for (let cut = 1; cut + 7 < bytes.length; cut += 7) {
      const three = [bytes.subarray(0, cut), bytes.subarray(cut, cut + 7), bytes.subarray(cut + 7)];
      expect(plain(parseAll(three))).toEqual(plain(whole));
    }
    const oneByOne = Array.from(bytes, (_b, i) => bytes.subarray(i, i + 1));
    expect(plain(parseAll(oneByOne))).toEqual(plain(whole));
  });

  it('accepts CRLF and lone CR line ends, split between CR and LF', () => {
    for (const eol of ['\r\n', '\r']) {
      const text = RECORDED.replaceAll('\n', eol);
      const events = parseAll(Array.from(text));
      expect(events.map((e) => e.data)).toEqual(whole.map((e) => e.data));
      expect(events.map((e) => e.raw).join('')).toBe(text);
    }
  });

  it('marks a block cut off by the end of the stream as incomplete', () => {
    const events = parseAll(['data: {"x":1}\n\n', 'data: [DO', 'NE]']);
    expect(events.map((e) => [e.data, e.complete])).toEqual([
      ['{"x":1}', true],
      ['[DONE]', false],
    ]);
  });

  it('says it is at a block boundary only when it holds no line, block or character', () => {
    const parser = new SseParser();
    expect(parser.atBoundary).toBe(true);
    parser.push('data: 1');
    expect(parser.atBoundary).toBe(false);
    parser.push('\n');
    expect(parser.atBoundary).toBe(false);
    parser.push('\n');
    expect(parser.atBoundary).toBe(true);
    parser.push('data: 2\r');
    parser.push('\n\r');
    // A trailing CR may be half of a CRLF.
    expect(parser.atBoundary).toBe(false);
    parser.push('\n');
    expect(parser.atBoundary).toBe(true);
    // A blank line, then the first byte of 'é': the decoder holds half a character.
    parser.push(new Uint8Array([0x0a, 0xc3]));
    expect(parser.atBoundary).toBe(false);
    parser.push(new Uint8Array([0xa9, 0x0a, 0x0a]));
    expect(parser.atBoundary).toBe(true);
  });

  it('refuses a line longer than its cap, whether it arrives whole or a byte at a time', () => {
    const parser = new SseParser({ maxLineLength: 1000, maxEventLength: 10_000 });
    expect(() => parser.push(`data: ${'x'.repeat(2000)}`)).toThrow(SseLimitError);
    const slow = new SseParser({ maxLineLength: 1000, maxEventLength: 10_000 });
    expect(() => {
      for (let i = 0; i < 2000; i += 1) slow.push('x');
    }).toThrow(/longer than 1000/);
    // Exactly at the cap is fine.
    const fits = new SseParser({ maxLineLength: 1000, maxEventLength: 10_000 });
    expect(fits.push(`data: ${'y'.repeat(994)}\n\n`)[0]?.data).toHaveLength(994);
  });

  it('refuses a block whose lines together pass the event cap', () => {
    const parser = new SseParser({ maxLineLength: 100, maxEventLength: 1000 });
    expect(() => {
      for (let i = 0; i < 50; i += 1) parser.push(`data: ${'z'.repeat(50)}\n`);
    }).toThrow(SseLimitError);
  });

  it('caps at 4 MiB by default, and takes a line just under it in small chunks', () => {
    const parser = new SseParser();
    const piece = 'a'.repeat(64 * 1024);
    parser.push('data: ');
    for (let i = 0; i < 63; i += 1) parser.push(piece);
    const [event] = parser.push('\n\n');
    expect(event?.data).toHaveLength(63 * piece.length);
    const over = new SseParser();
    expect(() => {
      for (let i = 0; i < 65; i += 1) over.push(piece);
    }).toThrow(SseLimitError);
  });

  it('treats a field without a colon as empty and keeps non-data lines on rewrite', () => {
    const [event] = parseAll(['event: error\n: note\ndata\n\n']);
    expect(event).toMatchObject({ event: 'error', data: '' });
    expect(withData(event as SseEvent, '{"b":2}')).toBe('event: error\n: note\ndata: {"b":2}\n\n');
  });
});

describe('inspectChunk', () => {
  const info = (text: string) => inspectChunk(parseObject(text) ?? {});

  it('finds output in chat deltas and completion text, not in role-only or finish chunks', () => {
    expect(info(chunk({ role: 'assistant', content: '' })).outputs).toBe(0);
    expect(info(chunk({}, 'stop')).outputs).toBe(0);
    expect(info(chunk({ content: 'hi' })).outputs).toBe(1);
    expect(info(chunk({ tool_calls: [{ index: 0 }] })).outputs).toBe(1);
    expect(info(chunk({ reasoning_content: 'hm' })).outputs).toBe(1);
    expect(info('{"choices":[{"text":"a"},{"text":""},{"text":"b"}]}').outputs).toBe(2);
  });

  it('reads a usage-only chunk', () => {
    const i = info(
      '{"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}',
    );
    expect(i).toMatchObject({ usageOnly: true, choices: 0, error: null });
    expect(i.usage).toEqual({ promptTokens: 9, completionTokens: 3, totalTokens: 12 });
  });

  it('reads usage on a chunk that still carries choices (not usage-only)', () => {
    const i = info(
      '{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":2}}',
    );
    expect(i.usageOnly).toBe(false);
    expect(i.outputs).toBe(1);
    expect(i.usage).toEqual({ promptTokens: 4, completionTokens: 2, totalTokens: 6 });
  });

  it('ignores null or malformed usage', () => {
    expect(info('{"choices":[],"usage":null}').usage).toBeNull();
    expect(readUsage({ prompt_tokens: 'many' })).toBeNull();
    expect(readUsage({ prompt_tokens: -3, completion_tokens: 2.9 })).toEqual({
      promptTokens: 0,
      completionTokens: 2,
      totalTokens: 2,
    });
  });

  it('finds an error object inside a stream, in either shape', () => {
    expect(info('{"error":{"message":"boom","type":"BadRequestError","code":400}}').error).toEqual({
      message: 'boom',
      type: 'BadRequestError',
      code: '400',
    });
    expect(readError({ error: 'overloaded' })).toEqual({
      message: 'overloaded',
      type: null,
      code: null,
    });
    expect(readError({ choices: [] })).toBeNull();
  });

  it('parses only JSON objects', () => {
    expect(parseObject('[1]')).toBeNull();
    expect(parseObject('{"a"')).toBeNull();
    expect(parseObject(DONE)).toBeNull();
  });
});

describe('blamesRequest', () => {
  const error = (code: string | null, type: string | null) => ({ message: 'm', type, code });
  it('blames the request for a 4xx, a bad request or a prompt over the context', () => {
    expect(blamesRequest(error('400', 'BadRequestError'))).toBe(true);
    expect(blamesRequest(error('422', null))).toBe(true);
    expect(blamesRequest(error(null, 'invalid_request_error'))).toBe(true);
    expect(blamesRequest(error('context_length_exceeded', null))).toBe(true);
  });
  it('blames the instance for a server error, a busy engine or anything unknown', () => {
    expect(blamesRequest(error('500', 'InternalServerError'))).toBe(false);
    expect(blamesRequest(error('429', 'RateLimitError'))).toBe(false);
    expect(blamesRequest(error('408', null))).toBe(false);
    expect(blamesRequest(error('engine_dead', 'server_error'))).toBe(false);
    expect(blamesRequest(error(null, null))).toBe(false);
  });
});
