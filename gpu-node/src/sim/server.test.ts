import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../engines/prometheus.ts';
import { mapEngineMetrics } from '../engines/metrics-map.ts';
import { uncachedPromptTokens } from './prefix-cache.ts';
import { chatPrompt, NATURAL_MAX_TOKENS, NATURAL_MIN_TOKENS } from './requests.ts';
import { startSim, type SimServer } from './server.ts';
import { BLOCK_SIZE, countTokens } from './tokenizer.ts';

const MODEL = 'sim-test';
const FAST = { ttftMs: 5, itlMs: 1, prefillMsPerToken: 0 };

const servers: SimServer[] = [];
async function start(opts: Parameters<typeof startSim>[0]): Promise<SimServer> {
  const s = await startSim({ ...FAST, ...opts });
  servers.push(s);
  return s;
}
afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

interface Chunk {
  id: string;
  object: string;
  model: string;
  created: number;
  choices: {
    index: number;
    delta?: { role?: string; content?: string };
    text?: string;
    finish_reason: string | null;
  }[];
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  error?: { message: string; type: string; code: number };
}

function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// The data payloads of an SSE body, checking the framing on the way.
async function frames(res: Response): Promise<string[]> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const text = await res.text();
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      return block.slice('data: '.length);
    });
}

const chunksOf = (payloads: string[]): Chunk[] =>
  payloads.filter((p) => p !== '[DONE]').map((p) => JSON.parse(p) as Chunk);

async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const sample = parsePrometheusText(text).find((s) => s.name === name);
  if (!sample) throw new Error(`no ${name} in /metrics`);
  expect(sample.labels.model_name).toBeDefined();
  return sample.value;
}

async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const messages = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Count to ten, please.' },
];

describe('engine simulator over HTTP', () => {
  let sim: SimServer;
  beforeAll(async () => {
    sim = await start({ model: MODEL, seed: 7 });
  });

  it('streams chat chunks in vLLM form, without a usage chunk unless asked', async () => {
    const payloads = await frames(
      await post(sim.url, '/v1/chat/completions', {
        model: MODEL,
        messages,
        max_tokens: 6,
        stream: true,
      }),
    );
    expect(payloads.at(-1)).toBe('[DONE]');
    const chunks = chunksOf(payloads);
    expect(chunks).toHaveLength(1 + 6);
    const [first, ...tokens] = chunks;
    expect(first?.choices[0]?.delta).toEqual({ role: 'assistant', content: '' });
    expect(first?.choices[0]?.finish_reason).toBeNull();
    for (const c of chunks) {
      expect(c.id).toBe(first?.id);
      expect(c.id).toMatch(/^chatcmpl-/);
      expect(c.object).toBe('chat.completion.chunk');
      expect(c.model).toBe(MODEL);
      expect(c.usage).toBeUndefined();
      expect(c.choices).toHaveLength(1);
    }
    tokens.forEach((c, i) => {
      expect(countTokens(c.choices[0]?.delta?.content ?? '')).toBe(1);
      expect(c.choices[0]?.finish_reason).toBe(i === tokens.length - 1 ? 'length' : null);
    });
  });

  it('ends with a usage chunk with empty choices when include_usage is set', async () => {
    const payloads = await frames(
      await post(sim.url, '/v1/chat/completions', {
        model: MODEL,
        messages,
        max_tokens: 9,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(payloads.at(-1)).toBe('[DONE]');
    const chunks = chunksOf(payloads);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    const contentChunks = chunks.filter((c) => c.choices[0]?.delta?.content);
    const streamed = contentChunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(last?.usage?.completion_tokens).toBe(contentChunks.length);
    expect(last?.usage?.completion_tokens).toBe(9);
    expect(countTokens(streamed)).toBe(9);
    expect(last?.usage?.prompt_tokens).toBe(countTokens(chatPrompt(messages)));
    expect(last?.usage?.total_tokens).toBe((last?.usage?.prompt_tokens ?? 0) + 9);
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined)).toBe(true);
  });

  it('streams completions as text_completion chunks', async () => {
    const payloads = await frames(
      await post(sim.url, '/v1/completions', {
        model: MODEL,
        prompt: 'Once upon a time',
        max_tokens: 4,
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const chunks = chunksOf(payloads);
    expect(chunks).toHaveLength(5);
    expect(chunks[0]?.id).toMatch(/^cmpl-/);
    expect(chunks.every((c) => c.object === 'text_completion')).toBe(true);
    expect(chunks[3]?.choices[0]?.finish_reason).toBe('length');
    expect(chunks[4]?.usage).toMatchObject({ prompt_tokens: 4, completion_tokens: 4 });
  });

  it('answers non-streaming requests with the same text the stream would have carried', async () => {
    const body = { model: MODEL, messages, max_tokens: 12 };
    const res = await post(sim.url, '/v1/chat/completions', body);
    expect(res.status).toBe(200);
    const json = await res.json<{
      object: string;
      choices: { message: { role: string; content: string }; finish_reason: string }[];
      usage: { completion_tokens: number };
    }>();
    expect(json.object).toBe('chat.completion');
    expect(json.choices[0]?.message.role).toBe('assistant');
    expect(json.choices[0]?.finish_reason).toBe('length');
    expect(json.usage.completion_tokens).toBe(12);
    const streamed = chunksOf(
      await frames(await post(sim.url, '/v1/chat/completions', { ...body, stream: true })),
    )
      .map((c) => c.choices[0]?.delta?.content ?? '')
      .join('');
    expect(json.choices[0]?.message.content).toBe(streamed);
  });

  it('is deterministic for a seed and differs across seeds', async () => {
    const twin = await start({ model: MODEL, seed: 7 });
    const other = await start({ model: MODEL, seed: 8 });
    const text = async (url: string): Promise<string> => {
      const res = await post(url, '/v1/completions', {
        model: MODEL,
        prompt: 'Tell me a story',
        max_tokens: 30,
      });
      return (await res.json<{ choices: { text: string }[] }>()).choices[0]?.text ?? '';
    };
    const a = await text(sim.url);
    expect(await text(sim.url)).toBe(a);
    expect(await text(twin.url)).toBe(a);
    expect(await text(other.url)).not.toBe(a);
  });

  it('respects max_tokens and max_completion_tokens, and stops on its own otherwise', async () => {
    const usageOf = async (body: object) => {
      const res = await post(sim.url, '/v1/chat/completions', { model: MODEL, messages, ...body });
      const json = await res.json<{
        usage: { completion_tokens: number };
        choices: { finish_reason: string }[];
      }>();
      return { tokens: json.usage.completion_tokens, finish: json.choices[0]?.finish_reason };
    };
    expect(await usageOf({ max_tokens: 3 })).toEqual({ tokens: 3, finish: 'length' });
    expect(await usageOf({ max_tokens: 50, max_completion_tokens: 2 })).toEqual({
      tokens: 2,
      finish: 'length',
    });
    const natural = await usageOf({});
    expect(natural.finish).toBe('stop');
    expect(natural.tokens).toBeGreaterThanOrEqual(NATURAL_MIN_TOKENS);
    expect(natural.tokens).toBeLessThanOrEqual(NATURAL_MAX_TOKENS);

    const small = await start({ model: MODEL, maxTokens: 10 });
    const capped = await post(small.url, '/v1/chat/completions', {
      model: MODEL,
      messages,
      max_tokens: 500,
    });
    const cappedJson = await capped.json<{ usage: { completion_tokens: number } }>();
    expect(cappedJson.usage.completion_tokens).toBe(10);
    const res = await post(sim.url, '/v1/chat/completions', {
      model: MODEL,
      messages,
      max_tokens: 0,
    });
    expect(res.status).toBe(400);
  });

  it('makes a repeated prompt hit the prefix cache, with fewer tokens to prefill', async () => {
    const longMessages = [{ role: 'user', content: 'alpha beta gamma delta '.repeat(30) }];
    const promptTokens = countTokens(chatPrompt(longMessages));
    const hits0 = await metric(sim.url, 'vllm:prefix_cache_hits_total');
    const queries0 = await metric(sim.url, 'vllm:prefix_cache_queries_total');
    const cachedOf = async (): Promise<number> => {
      const res = await post(sim.url, '/v1/chat/completions', {
        model: MODEL,
        messages: longMessages,
        max_tokens: 1,
      });
      const json = await res.json<{
        usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };
      }>();
      expect(json.usage.prompt_tokens).toBe(promptTokens);
      return json.usage.prompt_tokens_details.cached_tokens;
    };
    const first = await cachedOf();
    const second = await cachedOf();
    expect(first).toBe(0);
    expect(second).toBe(Math.floor(promptTokens / BLOCK_SIZE) * BLOCK_SIZE);
    const blocks = (cached: number): number => cached / BLOCK_SIZE;
    expect(uncachedPromptTokens(promptTokens, blocks(second), BLOCK_SIZE)).toBeLessThan(
      uncachedPromptTokens(promptTokens, blocks(first), BLOCK_SIZE),
    );
    expect((await metric(sim.url, 'vllm:prefix_cache_hits_total')) - hits0).toBe(second);
    expect((await metric(sim.url, 'vllm:prefix_cache_queries_total')) - queries0).toBe(
      2 * promptTokens,
    );
  });

  it('serves deterministic embeddings, as floats or base64', async () => {
    const embed = async (input: unknown, extra: object = {}) => {
      const res = await post(sim.url, '/v1/embeddings', { model: MODEL, input, ...extra });
      expect(res.status).toBe(200);
      return await res.json<{
        object: string;
        data: { index: number; object: string; embedding: number[] | string }[];
        usage: { prompt_tokens: number; total_tokens: number };
      }>();
    };
    const a = await embed(['the cat sat', 'a dog ran far', 'the cat sat']);
    expect(a.object).toBe('list');
    expect(a.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(a.usage.prompt_tokens).toBe(3 + 4 + 3);
    const [v0, v1, v2] = a.data.map((d) => d.embedding as number[]);
    expect(v0).toHaveLength(64);
    expect(v0).toEqual(v2);
    expect(v0).not.toEqual(v1);
    const norm = Math.sqrt((v0 ?? []).reduce((s, x) => s + x * x, 0));
    expect(norm).toBeCloseTo(1, 5);
    expect((await embed('the cat sat')).data[0]?.embedding).toEqual(v0);

    const b64 = await embed('the cat sat', { encoding_format: 'base64' });
    const bytes = Buffer.from(b64.data[0]?.embedding as string, 'base64');
    const decoded = Array.from(
      new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4),
    );
    expect(decoded).toEqual(v0);
    expect((await embed('x', { dimensions: 8 })).data[0]?.embedding).toHaveLength(8);
  });

  it('lists its model as owned by fleetgate-sim and answers health', async () => {
    const models = await (
      await fetch(`${sim.url}/v1/models`)
    ).json<{
      object: string;
      data: { id: string; object: string; owned_by: string }[];
    }>();
    expect(models.object).toBe('list');
    expect(models.data).toEqual([
      expect.objectContaining({ id: MODEL, object: 'model', owned_by: 'fleetgate-sim' }),
    ]);
    expect((await fetch(`${sim.url}/health`)).status).toBe(200);
  });

  it('refuses what vLLM refuses, in OpenAI error shape', async () => {
    const expectError = async (res: Response, status: number, type: string) => {
      expect(res.status).toBe(status);
      const json = await res.json<{ error: { message: string; type: string; code: number } }>();
      expect(json.error.type).toBe(type);
      expect(json.error.code).toBe(status);
      expect(json.error.message.length).toBeGreaterThan(0);
      return json.error;
    };
    const unknown = await expectError(
      await post(sim.url, '/v1/chat/completions', { model: 'nope', messages }),
      404,
      'NotFoundError',
    );
    expect(unknown.message).toContain('nope');
    await expectError(
      await post(sim.url, '/v1/chat/completions', '{"model":'),
      400,
      'BadRequestError',
    );
    await expectError(
      await post(sim.url, '/v1/chat/completions', { model: MODEL }),
      400,
      'BadRequestError',
    );
    await expectError(
      await post(sim.url, '/v1/chat/completions', {
        model: MODEL,
        messages,
        stream_options: { include_usage: true },
      }),
      400,
      'BadRequestError',
    );
    await expectError(
      await post(sim.url, '/v1/chat/completions', 'x'.repeat(4 * 1024 * 1024 + 1)),
      413,
      'PayloadTooLargeError',
    );
    await expectError(await fetch(`${sim.url}/v1/nothing`), 404, 'NotFoundError');
    await expectError(await fetch(`${sim.url}/v1/chat/completions`), 405, 'MethodNotAllowedError');
  });

  it('exposes metrics the node daemon maps', async () => {
    const text = await (await fetch(`${sim.url}/metrics`)).text();
    const samples = parsePrometheusText(text);
    const names = new Set(samples.map((s) => s.name));
    for (const name of [
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
      'vllm:kv_cache_usage_perc',
      'vllm:prefix_cache_queries_total',
      'vllm:prefix_cache_hits_total',
      'vllm:prompt_tokens_total',
      'vllm:generation_tokens_total',
      'vllm:time_to_first_token_seconds_bucket',
      'vllm:time_to_first_token_seconds_count',
    ]) {
      expect(names.has(name)).toBe(true);
    }
    const mapped = mapEngineMetrics(samples);
    expect(mapped.metrics.generation_tokens_total).toBeGreaterThan(0);
    expect(mapped.metrics.requests_running).toBe(0);
  });
});

describe('queueing and disconnects', () => {
  it('queues beyond max_num_seqs and frees slots when clients go away', async () => {
    const sim = await start({ model: MODEL, maxNumSeqs: 2, itlMs: 200 });
    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const responses = controllers.map((c) =>
      fetch(`${sim.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, messages, max_tokens: 100, stream: true }),
        signal: c.signal,
      }),
    );
    await until(
      async () =>
        (await metric(sim.url, 'vllm:num_requests_waiting')) === 3 &&
        (await metric(sim.url, 'vllm:num_requests_running')) === 2,
      'three waiting, two running',
    );
    expect(await metric(sim.url, 'vllm:kv_cache_usage_perc')).toBeGreaterThan(0);
    for (const c of controllers) c.abort();
    await Promise.allSettled(responses);
    // Unabandoned, these answers would stream for 20 s and more.
    await until(
      async () =>
        (await metric(sim.url, 'vllm:num_requests_waiting')) === 0 &&
        (await metric(sim.url, 'vllm:num_requests_running')) === 0,
      'the slots to be freed',
    );
    const generated = await metric(sim.url, 'vllm:generation_tokens_total');
    expect(generated).toBeLessThan(2 * 100);
    expect(await metric(sim.url, 'vllm:kv_cache_usage_perc')).toBe(0);
  });
});

describe('startup delay', () => {
  it('answers 503 on /health and /v1 until the delay has passed, then 200', async () => {
    const sim = await start({ model: MODEL, startupDelayMs: 2000 });
    expect((await fetch(`${sim.url}/health`)).status).toBe(503);
    expect((await post(sim.url, '/v1/chat/completions', { model: MODEL, messages })).status).toBe(
      503,
    );
    await until(async () => (await fetch(`${sim.url}/health`)).status === 200, 'health');
    expect(
      (await post(sim.url, '/v1/chat/completions', { model: MODEL, messages, max_tokens: 2 }))
        .status,
    ).toBe(200);
  });
});

describe('fault injection', () => {
  let sim: SimServer;
  beforeAll(async () => {
    sim = await start({ model: MODEL });
  });
  const chat = (headers: Record<string, string>, stream = true) =>
    post(
      sim.url,
      '/v1/chat/completions',
      { model: MODEL, messages, max_tokens: 20, stream },
      headers,
    );

  it('answers the status x-sim-error asks for', async () => {
    for (const [status, type] of [
      [429, 'RateLimitError'],
      [500, 'InternalServerError'],
      [503, 'ServiceUnavailableError'],
    ] as const) {
      const res = await chat({ 'x-sim-error': String(status) });
      expect(res.status).toBe(status);
      const json = await res.json<{ error: { type: string; code: number } }>();
      expect(json.error).toMatchObject({ type, code: status });
    }
    expect((await chat({ 'x-sim-error': 'sometimes' })).status).toBe(400);
  });

  it('fails inside the stream with x-sim-error: stream', async () => {
    const payloads = await frames(await chat({ 'x-sim-error': 'stream' }));
    expect(payloads.at(-1)).toBe('[DONE]');
    const chunks = chunksOf(payloads);
    const error = chunks.at(-1)?.error;
    expect(error).toMatchObject({ type: 'InternalServerError', code: 500 });
    const tokens = chunks.filter((c) => c.choices?.[0]?.delta?.content);
    expect(tokens).toHaveLength(3);
    expect(tokens.every((c) => c.choices[0]?.finish_reason === null)).toBe(true);
  });

  it('drops the connection mid-stream with x-sim-error: drop', async () => {
    const res = await chat({ 'x-sim-error': 'drop' });
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
    const plain = await chat({ 'x-sim-error': 'drop' }, false).catch((err: unknown) => err);
    expect(plain).toBeInstanceOf(Error);
  });

  it('fails every request at failure_rate 1 and a seeded share at 0.5', async () => {
    const always = await start({ model: MODEL, failureRate: 1 });
    for (let i = 0; i < 3; i++) {
      const res = await post(always.url, '/v1/chat/completions', {
        model: MODEL,
        messages,
        max_tokens: 1,
      });
      expect(res.status).toBe(500);
      const json = await res.json<{ error: { type: string } }>();
      expect(json.error.type).toBe('InternalServerError');
    }
    const embed = await post(always.url, '/v1/embeddings', { model: MODEL, input: 'x' });
    expect(embed.status).toBe(500);

    const pattern = async (): Promise<number[]> => {
      const half = await start({ model: MODEL, failureRate: 0.5, seed: 3 });
      const statuses: number[] = [];
      for (let i = 0; i < 16; i++) {
        const res = await post(half.url, '/v1/completions', {
          model: MODEL,
          prompt: 'p',
          max_tokens: 1,
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      return statuses;
    };
    const first = await pattern();
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await pattern()).toEqual(first);
  });

  it('adds the delay x-sim-delay-ms asks for and rejects a bad one', async () => {
    const res = await chat({ 'x-sim-delay-ms': '5' }, false);
    expect(res.status).toBe(200);
    expect((await chat({ 'x-sim-delay-ms': '-1' })).status).toBe(400);
  });
});

describe('served model names and shutdown', () => {
  it('answers to its served names only', async () => {
    const sim = await start({ model: 'org/base', servedModelNames: ['alias-a', 'alias-b'] });
    const models = await (
      await fetch(`${sim.url}/v1/models`)
    ).json<{
      data: { id: string }[];
    }>();
    expect(models.data.map((m) => m.id)).toEqual(['alias-a', 'alias-b']);
    expect(
      (await post(sim.url, '/v1/completions', { model: 'alias-b', prompt: 'x', max_tokens: 1 }))
        .status,
    ).toBe(200);
    expect(
      (await post(sim.url, '/v1/completions', { model: 'org/base', prompt: 'x', max_tokens: 1 }))
        .status,
    ).toBe(404);
    // Without a model the first served name answers, as vLLM does.
    expect((await post(sim.url, '/v1/completions', { prompt: 'x', max_tokens: 1 })).status).toBe(
      200,
    );
    const metrics = await (await fetch(`${sim.url}/metrics`)).text();
    expect(metrics).toContain('model_name="alias-a"');
  });

  it('ends streams in flight when closed', async () => {
    const sim = await startSim({ model: MODEL, ttftMs: 1, itlMs: 100 });
    const res = await post(sim.url, '/v1/chat/completions', {
      model: MODEL,
      messages,
      max_tokens: 500,
      stream: true,
    });
    const body = res.text();
    await new Promise((r) => setTimeout(r, 50));
    await sim.close();
    const text = await body;
    expect(text).toContain('"ServiceUnavailableError"');
    expect(text.endsWith('data: [DONE]\n\n')).toBe(true);
  });
});
