// The endpoints beyond chat, completions and embeddings (issue 15), end to end on the Node
// host: a real gateway process, a real gpu-node daemon running the engine simulator, and
// the official `openai` SDK as the client. Every usage row is read back through the admin
// API and compared with what the SDK saw.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ErrorBodySchema } from '../../schema/admin.ts';
import {
  createDeployment,
  startGateway,
  startNode,
  waitFor,
  waitForReady,
  type Gateway,
  type GpuNode,
} from '../support/stack.ts';
import { crc32 } from '../../gpu-node/src/sim/png.ts';

const MODEL = `more-sim-${process.pid}`;
// The gateway's bound on audio uploads in this test.
const MAX_AUDIO_BYTES = 2 * 1024 * 1024;

// A PCM WAV of silence: 16 kHz, 16-bit, mono.
function wav(seconds: number): Buffer {
  const rate = 16_000;
  const bytes = Math.round(rate * seconds) * 2;
  const out = Buffer.alloc(44 + bytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + bytes, 4);
  out.write('WAVEfmt ', 8, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * 2, 28); // byte rate
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(bytes, 40);
  return out;
}

interface UsageRow {
  id: string;
  endpoint: string;
  model: string | null;
  outcome: string;
  status: number;
  stream: boolean;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  ttft_ms: number | null;
  images: number;
  audio_seconds: number;
  spend_usd: number;
}

let dir: string;
let gateway: Gateway;
let node: GpuNode;
let client: OpenAI;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-more-'));
  gateway = await startGateway({
    dataDir: dir,
    adminToken: 'more-admin-token-0123456789',
    env: { FLEETGATE_MAX_AUDIO_BYTES: String(MAX_AUDIO_BYTES) },
  });
  node = await startNode({ gateway, name: 'more-node', configPath: join(dir, 'node.json') });
  const deployment = await createDeployment(gateway, {
    model: MODEL,
    recipe: 'sim',
    options: { ttft_ms: 5, itl_ms: 4, max_tokens: 2000, seed: 15 },
  });
  await waitForReady(gateway, deployment.id, 60_000);
  const key = await gateway.admin.request<{ key: string }>('POST', '/keys', { name: 'more' });
  client = new OpenAI({ baseURL: `${gateway.url}/v1`, apiKey: key.key, maxRetries: 0 });
}, 120_000);

afterAll(async () => {
  await node?.service.stop();
  await gateway?.service.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function usageRow(requestId: string | null, until?: (row: UsageRow) => boolean) {
  expect(requestId).toBeTruthy();
  return waitFor(`usage row ${requestId}`, async () => {
    const rows = await gateway.admin.request<{ data: UsageRow[] }>(
      'GET',
      '/usage/events?limit=200',
    );
    const row = rows.data.find((r) => r.id === requestId);
    return row && (until ? until(row) : true) ? row : undefined;
  });
}

describe('POST /v1/responses', () => {
  it('answers responses.create and records the usage the SDK saw', async () => {
    const { data, response } = await client.responses
      .create({ model: MODEL, input: 'Say something', max_output_tokens: 9 })
      .withResponse();
    expect(data.object).toBe('response');
    expect(data.output_text.length).toBeGreaterThan(0);
    expect(data.usage?.output_tokens).toBe(9);
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/responses',
      model: MODEL,
      outcome: 'ok',
      stream: false,
      prompt_tokens: data.usage?.input_tokens,
      completion_tokens: data.usage?.output_tokens,
      total_tokens: data.usage?.total_tokens,
    });
  });

  it('streams typed events to response.completed, metered from its usage', async () => {
    const { data: stream, response } = await client.responses
      .create({
        model: MODEL,
        stream: true,
        max_output_tokens: 11,
        input: [{ role: 'user', content: 'Count for me' }],
      })
      .withResponse();
    const types: string[] = [];
    let text = '';
    let usage: OpenAI.Responses.ResponseUsage | null | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') text += event.delta;
      if (event.type === 'response.completed') usage = event.response.usage;
    }
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types.filter((t) => t === 'response.output_text.delta')).toHaveLength(11);
    expect(text.length).toBeGreaterThan(0);
    expect(usage?.output_tokens).toBe(11);
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      outcome: 'ok',
      stream: true,
      prompt_tokens: usage?.input_tokens,
      completion_tokens: 11,
      total_tokens: usage?.total_tokens,
    });
    expect(row.ttft_ms).not.toBeNull();
  });

  it('charges a client that leaves mid-stream for the prompt and the deltas', async () => {
    const { data: stream, response } = await client.responses
      .create({ model: MODEL, stream: true, max_output_tokens: 1500, input: 'A long story' })
      .withResponse();
    let deltas = 0;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') deltas += 1;
      if (deltas === 5) break;
    }
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row.outcome).toBe('client_aborted');
    expect(row.completion_tokens).toBeGreaterThanOrEqual(5);
    // The engine was stopped long before it could finish.
    expect(row.completion_tokens).toBeLessThan(1500);
    expect(row.prompt_tokens).toBeGreaterThan(0);
    expect(row.total_tokens).toBe(row.prompt_tokens + row.completion_tokens);
  });
});

// A PNG's chunks, checked for what a decoder needs: signature, IHDR, IDAT that inflates to
// one filter byte plus width × 3 bytes per row (8-bit RGB), IEND.
function decodePng(png: Buffer) {
  expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: { type: string; data: Buffer }[] = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('ascii');
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    chunks.push({ type, data });
    at += 12 + length;
  }
  expect(chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
  const ihdr = chunks[0]?.data ?? Buffer.alloc(13);
  const width = ihdr.readUInt32BE(0);
  const height = ihdr.readUInt32BE(4);
  expect([ihdr[8], ihdr[9]]).toEqual([8, 2]);
  const pixels = inflateSync(chunks[1]?.data ?? Buffer.alloc(0));
  expect(pixels.length).toBe(height * (1 + width * 3));
  return { width, height, pixels };
}

describe('POST /v1/images/generations', () => {
  it('answers images.generate with decodable PNGs and records the images, tokens and spend', async () => {
    const price = await gateway.admin.request<{ usd_per_image: number | null }>(
      'PUT',
      `/prices/${MODEL}`,
      { input_usd_per_mtok: 1, output_usd_per_mtok: 2, usd_per_image: 0.25 },
    );
    expect(price.usd_per_image).toBe(0.25);
    const { data, response } = await client.images
      .generate({ model: MODEL, prompt: 'a lighthouse at dusk', n: 2, size: '48x32' })
      .withResponse();
    expect(data.data).toHaveLength(2);
    const [first, second] = (data.data ?? []).map((d) => Buffer.from(d.b64_json ?? '', 'base64'));
    const png = decodePng(first ?? Buffer.alloc(0));
    expect(png).toMatchObject({ width: 48, height: 32 });
    decodePng(second ?? Buffer.alloc(0));
    // Deterministic per seed: the same request draws the same first image.
    const again = await client.images.generate({
      model: MODEL,
      prompt: 'a lighthouse at dusk',
      size: '48x32',
    });
    expect(again.data?.[0]?.b64_json).toBe(first?.toString('base64'));
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/images/generations',
      outcome: 'ok',
      images: 2,
      prompt_tokens: data.usage?.input_tokens,
      total_tokens: data.usage?.total_tokens,
    });
    // Two images at $0.25, and the prompt's tokens at $1 per million.
    expect(row.spend_usd).toBeCloseTo(0.5 + (data.usage?.input_tokens ?? 0) / 1e6, 9);
  });

  it('refuses a streamed image request with a 400 naming the field', async () => {
    const err = await client.images.generate({ model: MODEL, prompt: 'x', stream: true }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('stream');
  });
});

describe('POST /v1/rerank and /v1/score', () => {
  it('reranks documents over HTTP, metered by the tokens the engine reported', async () => {
    const res = await fetch(`${gateway.url}/v1/rerank`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: MODEL,
        query: 'purring cats',
        documents: ['dogs bark loudly', 'cats purr softly', 'rain on the roof'],
        top_n: 2,
      }),
    });
    expect(res.status).toBe(200);
    const body = z
      .object({
        results: z.array(z.object({ index: z.number(), relevance_score: z.number() })),
        usage: z.object({ total_tokens: z.number() }),
      })
      .parse(await res.json());
    expect(body.results).toHaveLength(2);
    expect(body.results[0]?.relevance_score).toBeGreaterThanOrEqual(
      body.results[1]?.relevance_score ?? 1,
    );
    const row = await usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/rerank',
      outcome: 'ok',
      prompt_tokens: body.usage.total_tokens,
      completion_tokens: 0,
      total_tokens: body.usage.total_tokens,
    });
  });

  it('scores text pairs, metered from usage.prompt_tokens', async () => {
    const res = await fetch(`${gateway.url}/v1/score`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, text_1: 'cats', text_2: ['cats purr', 'dogs bark'] }),
    });
    expect(res.status).toBe(200);
    const body = z
      .object({ data: z.array(z.unknown()), usage: z.object({ prompt_tokens: z.number() }) })
      .parse(await res.json());
    expect(body.data).toHaveLength(2);
    const row = await usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({ endpoint: '/v1/score', prompt_tokens: body.usage.prompt_tokens });
  });

  it('refuses a rerank without documents with a 400 naming the field', async () => {
    const res = await fetch(`${gateway.url}/v1/rerank`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, query: 'q' }),
    });
    expect(res.status).toBe(400);
    const body = ErrorBodySchema.parse(await res.json());
    expect(body.error).toMatchObject({ param: 'documents', code: 'missing_required_parameter' });
  });
});

describe('POST /v1/audio/transcriptions and /translations', () => {
  it('transcribes a WAV upload and records the audio seconds the engine reported', async () => {
    const { data, response } = await client.audio.transcriptions
      .create({ file: await toFile(wav(3.2), 'speech.wav', { type: 'audio/wav' }), model: MODEL })
      .withResponse();
    expect(data.text.length).toBeGreaterThan(0);
    const { usage } = data;
    expect(usage).toEqual({ type: 'duration', seconds: 4 });
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/audio/transcriptions',
      model: MODEL,
      outcome: 'ok',
      status: 200,
      audio_seconds: usage?.type === 'duration' ? usage.seconds : -1,
      total_tokens: 0,
    });
  });

  it('translates with the model before the file, answering plain text', async () => {
    const { data, response } = await client.audio.translations
      .create({ model: MODEL, file: await toFile(wav(1), 'a.wav'), response_format: 'text' })
      .withResponse();
    expect(typeof data).toBe('string');
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const row = await usageRow(response.headers.get('x-request-id'));
    expect(row).toMatchObject({ endpoint: '/v1/audio/translations', outcome: 'ok' });
  });

  it('relays a streamed transcription as it comes, metered from its usage chunk', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav(2))]), 'a.wav');
    form.append('model', MODEL);
    // After the model: the gateway has stopped reading the form by then.
    form.append('stream', 'true');
    form.append('stream_include_usage', 'true');
    const res = await fetch(`${gateway.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}` },
      body: form,
    });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const blocks = (await res.text()).split('\n\n').filter(Boolean);
    expect(blocks.at(-1)).toBe('data: [DONE]');
    const chunks = blocks.slice(0, -1).map((b) =>
      z
        .object({
          choices: z.array(z.object({ delta: z.object({ content: z.string() }) })),
          usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).optional(),
        })
        .parse(JSON.parse(b.slice('data: '.length))),
    );
    const deltas = chunks.filter((c) => c.choices.length > 0).length;
    const usage = chunks.at(-1)?.usage;
    expect(usage?.completion_tokens).toBe(deltas);
    const row = await usageRow(res.headers.get('x-request-id'));
    expect(row).toMatchObject({
      endpoint: '/v1/audio/transcriptions',
      stream: true,
      outcome: 'ok',
      prompt_tokens: usage?.prompt_tokens,
      completion_tokens: deltas,
    });
    expect(row.ttft_ms).not.toBeNull();
  });

  it('refuses an upload over its own bound with 413, and one without a model with 400', async () => {
    const big = await client.audio.transcriptions
      .create({ model: MODEL, file: await toFile(wav(80), 'long.wav') })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(big).toBeInstanceOf(OpenAI.APIError);
    expect((big as InstanceType<typeof OpenAI.APIError>).status).toBe(413);
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav(0.5))]), 'a.wav');
    const res = await fetch(`${gateway.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${client.apiKey}` },
      body: form,
    });
    expect(res.status).toBe(400);
    expect(ErrorBodySchema.parse(await res.json()).error).toMatchObject({
      param: 'model',
      code: 'missing_required_parameter',
    });
  });
});
