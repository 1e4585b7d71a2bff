// The unparsed fast path (template.ts) against the parsed one: a block it meters must be
// one that JSON.parse and inspectChunk would meter the same way, and the relay's figures
// (usage, first token, the outputs counted for a cut stream, errors) must not change.
import { describe, expect, it, vi } from 'vitest';
import { RelayCore } from '../proxy/relay-core.ts';
import { UsageMeter } from '../usage/meter.ts';
import { inspectChunk, type JsonObject } from './inspect.ts';
import { BlockTemplates, isJsonStringBody } from './template.ts';

const encoder = new TextEncoder();
const bytes = (text: string) => encoder.encode(text);

const chat = (delta: object, extra: object = {}, finish: string | null = null) =>
  `data: ${JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion.chunk',
    created: 1,
    model: 'm',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...extra,
  })}\n\n`;

function learned(block: string): BlockTemplates {
  const templates = new BlockTemplates();
  const data = JSON.parse(block.slice('data: '.length)) as JsonObject;
  templates.learn(bytes(block), data, inspectChunk(data));
  return templates;
}

describe('isJsonStringBody', () => {
  const check = (text: string) => isJsonStringBody(bytes(text), 0, bytes(text).length);
  it('takes text, UTF-8 and well-formed escapes', () => {
    for (const ok of [
      '',
      'hi',
      'Grüß 🚀',
      '\\"q\\"',
      '\\\\',
      '\\n\\t\\/',
      '\\u00e4\\uD83D\\ude80',
    ]) {
      expect(check(ok)).toBe(true);
    }
  });
  it('refuses quotes, control characters and broken escapes', () => {
    for (const bad of ['a"b', 'a\nb', 'a\rb', '\\', 'a\\x', '\\u12', '\\u12g4', '"}']) {
      expect(check(bad)).toBe(false);
    }
  });
});

describe('BlockTemplates', () => {
  const template = learned(chat({ content: 'hi' }));

  it('meters a block that differs only in its text as the parsed path would', () => {
    for (const text of ['x', ' world', 'Grüß 🚀', 'say \\"hi\\"', '\\u00e4', '']) {
      const block = chat({ content: 'PLACEHOLDER' }).replace('PLACEHOLDER', text);
      const info = template.match(bytes(block))?.[0];
      const parsed = JSON.parse(block.slice('data: '.length)) as JsonObject;
      expect(info).toEqual(inspectChunk(parsed));
    }
  });

  it('meters each block of a chunk that holds several', () => {
    const infos = template.match(bytes(chat({ content: 'a' }) + chat({ content: '' })));
    expect(infos).toEqual([
      inspectChunk({ choices: [{ index: 0, delta: { content: 'a' } }] }),
      inspectChunk({ choices: [{ index: 0, delta: { content: '' } }] }),
    ]);
  });

  it('parses anything else the slow way', () => {
    for (const block of [
      chat({ content: 'hi' }, { id: 'chatcmpl-2' }),
      chat({ content: 'hi' }, {}, 'stop'),
      chat({ content: 'hi' }, { usage: { prompt_tokens: 1, completion_tokens: 1 } }),
      chat({ content: 'a", "x": "b' }).replace('\\"', '"'),
      chat({ content: 'hi' }).replace('\n\n', '\r\n\r\n'),
      chat({ content: 'hi' }) + ': ping\n\n',
      chat({ content: 'hi' }) + chat({ content: 'hi' }, {}, 'stop'),
      chat({ content: 'hi' }).slice(0, -1),
      chat({ content: 'hi' }).replace('"hi"', '"h\ni"'),
      ': ping\n\n',
      'data: [DONE]\n\n',
    ]) {
      expect(template.match(bytes(block))).toBeNull();
    }
  });

  it('learns only from a block whose one output is its text', () => {
    const none = new BlockTemplates();
    expect(none.match(bytes(chat({ content: 'hi' })))).toBeNull();
    for (const block of [
      chat({ role: 'assistant', content: '' }),
      chat({ content: 'hi', reasoning_content: 'think' }),
      chat({ content: 'hi' }, {}, 'stop'),
      chat({ tool_calls: [{ index: 0, function: { arguments: 'hi' } }] }),
      // The text also appears elsewhere: no one place to put another text in.
      chat({ content: 'm' }, { model: 'm', system_fingerprint: 'm' }),
    ]) {
      expect(learned(block).match(bytes(chat({ content: 'x' })))).toBeNull();
    }
    for (const block of [chat({ content: 'a' }), chat({ reasoning_content: 'a' })]) {
      expect(learned(block).match(bytes(block))).toHaveLength(1);
    }
  });
});

// A stream metered through the relay's core, with the fast path (the default inspector)
// and without (the same inspector behind another function, which turns it off).
function meterStream(
  blocks: string[],
  inspect?: (json: JsonObject) => ReturnType<typeof inspectChunk>,
  asBuffer = false,
) {
  const meter = new UsageMeter({
    id: 'r',
    keyId: null,
    endpoint: '/v1/chat/completions',
    now: Date.now,
  });
  meter.stream = true;
  meter.status = 200;
  meter.estimatePrompt = () => 11;
  const core = new RelayCore({ meter, clientWantsUsage: false, inspect });
  let out = '';
  const decoder = new TextDecoder();
  for (const block of blocks) {
    const sent = core.chunk(asBuffer ? Buffer.from(block) : bytes(block));
    if (sent) out += decoder.decode(sent);
  }
  const end = core.end();
  if (end) out += decoder.decode(end);
  const { latencyMs: _l, ttftMs, createdAt: _c, ...event } = meter.finish();
  return { out, event, ttft: ttftMs !== null };
}

describe('RelayCore with the fast path', () => {
  const slow = (json: JsonObject) => inspectChunk(json);
  const usage =
    'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}\n\n';
  const tokens = ['Hel', 'lo', ' wör', 'ld 🚀', '', 'say \\"x\\"'].map((t) =>
    chat({ content: 'PLACEHOLDER' }).replace('PLACEHOLDER', t),
  );
  const streams: Record<string, string[]> = {
    'whole, with usage': [
      chat({ role: 'assistant', content: '' }),
      ...tokens,
      chat({}, {}, 'stop'),
      usage,
      'data: [DONE]\n\n',
    ],
    'cut before usage (estimate from outputs)': [
      chat({ role: 'assistant', content: '' }),
      ...tokens,
    ],
    'reasoning then content': [
      chat({ reasoning_content: 'a' }),
      chat({ reasoning_content: 'b' }),
      chat({ content: 'c' }),
      chat({ content: 'd' }),
      chat({ content: 'e', reasoning_content: 'f' }),
      'data: [DONE]\n\n',
    ],
    'an error after content': [
      ...tokens,
      'data: {"error":{"message":"engine died","type":"InternalServerError","code":500}}\n\n',
    ],
    'frames that change (id per block)': tokens.map((t, i) =>
      t.replace('chatcmpl-1', `chatcmpl-${i}`),
    ),
    'two choices': [
      'data: {"choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}\n\n',
      'data: {"choices":[{"index":0,"delta":{"content":"c"}},{"index":1,"delta":{"content":""}}]}\n\n',
      'data: [DONE]\n\n',
    ],
    completions: [
      'data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"a","logprobs":null,"finish_reason":null}]}\n\n',
      'data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":null}]}\n\n',
      'data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"b","logprobs":null,"finish_reason":null}]}\n\n',
      'data: {"id":"cmpl-1","object":"text_completion","choices":[{"index":0,"text":"c","logprobs":null,"finish_reason":"length"}]}\n\n',
      'data: [DONE]\n\n',
    ],
  };

  // As the node sent them, two blocks per read (a busy gateway), and cut anywhere.
  const chunkings = (blocks: string[]): string[][] => {
    const whole = blocks.join('');
    const pairs = blocks.flatMap((b, i) => (i % 2 === 0 ? [b + (blocks[i + 1] ?? '')] : []));
    const cut = Array.from({ length: Math.ceil(whole.length / 37) }, (_, i) =>
      whole.slice(i * 37, (i + 1) * 37),
    );
    return [blocks, pairs, cut];
  };
  for (const [name, blocks] of Object.entries(streams)) {
    it(`meters and relays the same as parsing every block: ${name}`, () => {
      for (const chunks of chunkings(blocks)) {
        expect(meterStream(chunks)).toEqual(meterStream(chunks, slow));
        // node:http's chunks are Buffers, compared natively.
        expect(meterStream(chunks, undefined, true)).toEqual(meterStream(chunks, slow));
      }
    });
  }

  it('parses a stream of tokens once, then meters the rest from the template', () => {
    const parse = vi.spyOn(JSON, 'parse');
    try {
      const { event } = meterStream([chat({ content: 'a' }), ...tokens, ...tokens]);
      // The first block, and the template's two checks; none of the 12 after it.
      expect(parse).toHaveBeenCalledTimes(3);
      expect(event).toMatchObject({ completionTokens: 11, promptTokens: 11 });
    } finally {
      parse.mockRestore();
    }
  });
});
