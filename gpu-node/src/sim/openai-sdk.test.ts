// The simulator as the official OpenAI SDK sees it: the client applications use.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSim, type SimServer } from './server.ts';
import { countTokens } from './tokenizer.ts';

const MODEL = 'sdk-sim';
let sim: SimServer;
let client: OpenAI;

beforeAll(async () => {
  sim = await startSim({ model: MODEL, ttftMs: 5, itlMs: 1, seed: 1 });
  client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'x', maxRetries: 0 });
});
afterAll(async () => {
  await sim.close();
});

describe('the openai SDK against the simulator', () => {
  it('lists the model', async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => [m.id, m.owned_by])).toEqual([[MODEL, 'fleetgate-sim']]);
  });

  it('completes a chat, streaming and not', async () => {
    const messages = [{ role: 'user' as const, content: 'Say hello' }];
    const chat = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 8 });
    expect(chat.choices[0]?.message.content).toBeTruthy();
    expect(chat.usage?.completion_tokens).toBe(8);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let pieces = 0;
    const usages = [];
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta.content;
      if (delta) {
        text += delta;
        pieces++;
      }
      if (chunk.usage) usages.push(chunk.usage);
    }
    expect(text).toBe(chat.choices[0]?.message.content);
    expect(usages).toHaveLength(1);
    expect(usages[0]?.completion_tokens).toBe(pieces);
    expect(countTokens(text)).toBe(pieces);
  });

  it('completes text and embeds with the SDK defaults (base64 embeddings)', async () => {
    const completion = await client.completions.create({
      model: MODEL,
      prompt: 'Once',
      max_tokens: 5,
    });
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect(completion.usage?.completion_tokens).toBe(5);

    const embeddings = await client.embeddings.create({ model: MODEL, input: ['a b', 'c'] });
    expect(embeddings.data).toHaveLength(2);
    expect(embeddings.data[0]?.embedding).toHaveLength(64);
    const floats = await client.embeddings.create({
      model: MODEL,
      input: 'a b',
      encoding_format: 'float',
    });
    expect(floats.data[0]?.embedding).toEqual(embeddings.data[0]?.embedding);
  });

  it('raises the SDK error classes for injected and real errors', async () => {
    const messages = [{ role: 'user' as const, content: 'x' }];
    await expect(
      client.chat.completions.create(
        { model: MODEL, messages },
        { headers: { 'x-sim-error': '429' } },
      ),
    ).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(
      client.chat.completions.create({ model: 'missing', messages }),
    ).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    // An error inside the stream surfaces as an APIError while iterating.
    const stream = await client.chat.completions.create(
      { model: MODEL, messages, max_tokens: 10, stream: true },
      { headers: { 'x-sim-error': 'stream' } },
    );
    const consume = async (): Promise<void> => {
      for await (const _chunk of stream) {
        // drain
      }
    };
    await expect(consume()).rejects.toBeInstanceOf(OpenAI.APIError);
  });
});
