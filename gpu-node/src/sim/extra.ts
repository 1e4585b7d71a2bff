// The simulator's answers that are not token streams, in the engines' formats:
//   POST /v1/images/generations   vLLM-Omni / SGLang Diffusion: {created, data: [{b64_json}]}
//                                 with a small deterministic PNG per image (png.ts)
//   POST /v1/audio/transcriptions vLLM (Whisper): {text, usage: {type: "duration", seconds}}
//   POST /v1/audio/translations   (or text, verbose_json, srt, vtt by response_format)
//   POST /v1/rerank               vLLM: {results: [{index, document, relevance_score}], usage}
//   POST /v1/score                vLLM: {data: [{index, object: "score", score}], usage}
// They answer at once (no engine queue): the simulator models token generation, not
// diffusion steps or audio decoding.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { sendJson } from './answers.ts';
import { embed } from './embeddings.ts';
import { combineSeeds, hashString } from './prng.ts';
import { renderPng } from './png.ts';
import { countTokens } from './tokenizer.ts';
import { generateText } from './vocabulary.ts';

export type ExtraRoute = 'images' | 'transcription' | 'translation' | 'rerank' | 'score';

export const EXTRA_ROUTES: Record<string, ExtraRoute> = {
  '/v1/images/generations': 'images',
  '/v1/audio/transcriptions': 'transcription',
  '/v1/audio/translations': 'translation',
  '/v1/rerank': 'rerank',
  '/v1/score': 'score',
};

// What the server gives these handlers: its checks, shared with the token endpoints.
export interface ExtraContext {
  seed: number;
  // The served name, or a RequestError (404) for another.
  checkModel(model: string | null | undefined): string;
  // Throws the injected status failure (x-sim-error: 4xx/5xx, failure_rate), if any.
  injectFault(): void;
  // A 400 naming the field.
  invalid(message: string, param: string | null): Error;
}

// Images are small: the simulator hands out at most this many pixels a side.
export const MAX_IMAGE_SIDE = 256;

const ImagesRequest = z.looseObject({
  model: z.string().nullish(),
  prompt: z.string().min(1),
  n: z.number().int().min(1).max(10).nullish(),
  size: z
    .string()
    .regex(/^\d+x\d+$/, 'like 256x256')
    .nullish(),
  seed: z.number().int().nullish(),
});

const Text = z.union([z.string(), z.looseObject({ text: z.string() })]);
const RerankRequest = z.looseObject({
  model: z.string().nullish(),
  query: z.string(),
  documents: z.array(Text).min(1),
  top_n: z.number().int().min(0).nullish(),
});
const ScoreRequest = z.looseObject({
  model: z.string().nullish(),
  text_1: z.union([z.string(), z.array(z.string()).min(1)]),
  text_2: z.union([z.string(), z.array(z.string()).min(1)]),
});

function parse<S extends z.ZodType>(schema: S, raw: unknown, ctx: ExtraContext): z.infer<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') ?? '';
  throw ctx.invalid(`${path ? `'${path}': ` : ''}${issue?.message ?? 'invalid'}`, path || null);
}

export function images(raw: unknown, res: ServerResponse, ctx: ExtraContext): void {
  const body = parse(ImagesRequest, raw, ctx);
  ctx.checkModel(body.model);
  ctx.injectFault();
  const [w, h] = (body.size ?? '64x64').split('x').map(Number);
  const width = Math.min(MAX_IMAGE_SIDE, Math.max(1, w ?? 64));
  const height = Math.min(MAX_IMAGE_SIDE, Math.max(1, h ?? 64));
  const seed = combineSeeds(combineSeeds(ctx.seed, hashString(body.prompt)), body.seed ?? 0);
  const data = [];
  for (let i = 0; i < (body.n ?? 1); i++) {
    data.push({ b64_json: renderPng(width, height, combineSeeds(seed, i)).toString('base64') });
  }
  const tokens = countTokens(body.prompt);
  sendJson(
    res,
    JSON.stringify({
      created: Math.floor(Date.now() / 1000),
      data,
      usage: { input_tokens: tokens, output_tokens: 0, total_tokens: tokens },
    }),
  );
}

const textOf = (doc: z.infer<typeof Text>) => (typeof doc === 'string' ? doc : doc.text);

// Cosine similarity of the simulator's embeddings, mapped onto [0, 1].
function relevance(a: string, b: string): number {
  const x = embed(a, 64);
  const y = embed(b, 64);
  let dot = 0;
  for (let i = 0; i < x.length; i++) dot += (x[i] ?? 0) * (y[i] ?? 0);
  return Math.round(((dot + 1) / 2) * 1e6) / 1e6;
}

export function rerank(raw: unknown, res: ServerResponse, ctx: ExtraContext): void {
  const body = parse(RerankRequest, raw, ctx);
  const model = ctx.checkModel(body.model);
  ctx.injectFault();
  let tokens = 0;
  const results = body.documents.map((doc, index) => {
    const text = textOf(doc);
    tokens += countTokens(body.query) + countTokens(text);
    return { index, document: { text }, relevance_score: relevance(body.query, text) };
  });
  results.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  const top = body.top_n ? results.slice(0, body.top_n) : results;
  sendJson(
    res,
    JSON.stringify({
      id: `rerank-${randomUUID().replaceAll('-', '')}`,
      model,
      usage: { total_tokens: tokens },
      results: top,
    }),
  );
}

export function score(raw: unknown, res: ServerResponse, ctx: ExtraContext): void {
  const body = parse(ScoreRequest, raw, ctx);
  const model = ctx.checkModel(body.model);
  ctx.injectFault();
  const seconds = typeof body.text_2 === 'string' ? [body.text_2] : body.text_2;
  const firsts = typeof body.text_1 === 'string' ? [body.text_1] : body.text_1;
  if (firsts.length !== 1 && firsts.length !== seconds.length) {
    throw ctx.invalid('text_1 must be one text or as many as text_2', 'text_1');
  }
  let tokens = 0;
  const data = seconds.map((second, index) => {
    const first = firsts.length === 1 ? (firsts[0] ?? '') : (firsts[index] ?? '');
    tokens += countTokens(first) + countTokens(second);
    return { index, object: 'score', score: relevance(first, second) };
  });
  sendJson(
    res,
    JSON.stringify({
      id: `score-${randomUUID().replaceAll('-', '')}`,
      object: 'list',
      created: Math.floor(Date.now() / 1000),
      model,
      data,
      usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
    }),
  );
}

// --- audio ------------------------------------------------------------------------------

export interface FormPart {
  name: string;
  filename: string | null;
  data: Buffer;
}

// A buffered multipart/form-data body, split into its parts.
export function parseMultipart(body: Buffer, contentType: string): FormPart[] | null {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) return null;
  const delimiter = Buffer.from(`--${boundary}`);
  // After the first, a delimiter is always at the start of a line.
  const next = Buffer.from(`\r\n--${boundary}`);
  const parts: FormPart[] = [];
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headersEnd = body.indexOf('\r\n\r\n', start);
    const end = headersEnd === -1 ? -1 : body.indexOf(next, headersEnd + 4);
    if (headersEnd === -1 || end === -1) return null;
    const headers = body.subarray(start, headersEnd).toString('utf8');
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1] ?? null;
    if (name !== undefined)
      parts.push({ name, filename, data: body.subarray(headersEnd + 4, end) });
    at = end + 2;
  }
  return parts;
}

// Seconds of audio: exact for a PCM WAV (its data chunk over its byte rate); otherwise
// guessed from the size at 16 kB/s (a 128 kbit/s compressed stream).
export function audioSeconds(file: Buffer): number {
  if (
    file.subarray(0, 4).toString('ascii') === 'RIFF' &&
    file.subarray(8, 12).toString() === 'WAVE'
  ) {
    let byteRate = 0;
    for (let at = 12; at + 8 <= file.length;) {
      const id = file.subarray(at, at + 4).toString('ascii');
      const size = file.readUInt32LE(at + 4);
      if (id === 'fmt ' && at + 16 <= file.length) byteRate = file.readUInt32LE(at + 16);
      if (id === 'data' && byteRate > 0) return Math.min(size, file.length - at - 8) / byteRate;
      at += 8 + size + (size % 2);
    }
  }
  return file.length / 16_000;
}

const AudioFormat = z.enum(['json', 'text', 'verbose_json', 'srt', 'vtt']);

export function audio(
  route: 'transcription' | 'translation',
  body: Buffer,
  contentType: string,
  res: ServerResponse,
  ctx: ExtraContext,
): void {
  if (!/^multipart\/form-data/i.test(contentType)) {
    throw ctx.invalid('the body must be multipart/form-data', null);
  }
  const parts = parseMultipart(body, contentType);
  if (!parts) throw ctx.invalid('malformed multipart/form-data body', null);
  const field = (name: string) => parts.find((p) => p.name === name)?.data.toString('utf8');
  const file = parts.find((p) => p.name === 'file');
  if (!file) throw ctx.invalid("missing required field 'file'", 'file');
  ctx.checkModel(field('model'));
  const format = AudioFormat.safeParse(field('response_format') ?? 'json');
  if (!format.success) throw ctx.invalid('unknown response_format', 'response_format');
  ctx.injectFault();
  const duration = audioSeconds(file.data);
  // vLLM reports whole seconds, rounded up.
  const usage = { type: 'duration', seconds: Math.ceil(duration) };
  const words = Math.max(1, Math.round(duration * 2.5));
  const text = generateText(
    combineSeeds(ctx.seed, hashString(file.data.toString('latin1'))),
    words,
  );
  const end = duration.toFixed(3);
  if (field('stream') === 'true') {
    return streamTranscript(res, text, field('stream_include_usage') === 'true', field('model'));
  }
  switch (format.data) {
    case 'text':
      return sendText(res, 'text/plain; charset=utf-8', `${text}\n`);
    case 'srt':
      return sendText(
        res,
        'text/plain; charset=utf-8',
        `1\n00:00:00,000 --> ${srtTime(duration)}\n${text}\n\n`,
      );
    case 'vtt':
      return sendText(
        res,
        'text/vtt; charset=utf-8',
        `WEBVTT\n\n00:00:00.000 --> ${srtTime(duration).replace(',', '.')}\n${text}\n`,
      );
    case 'verbose_json':
      return sendJson(
        res,
        JSON.stringify({
          task: route === 'transcription' ? 'transcribe' : 'translate',
          language: route === 'transcription' ? (field('language') ?? 'en') : 'en',
          duration: Number(end),
          text,
          segments: [{ id: 0, start: 0, end: Number(end), text }],
          usage,
        }),
      );
    case 'json':
      return sendJson(res, JSON.stringify({ text, usage }));
  }
}

// vLLM's streamed transcription: chat-like `transcription.chunk` deltas, one per word, the
// usage chunk when `stream_include_usage` asks for it, then [DONE].
function streamTranscript(
  res: ServerResponse,
  text: string,
  includeUsage: boolean,
  model: string | undefined,
): void {
  const id = `trsc-${randomUUID().replaceAll('-', '')}`;
  const head = { id, object: 'transcription.chunk', created: Math.floor(Date.now() / 1000), model };
  const words = text.split(/(?<= )/);
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });
  let out = '';
  words.forEach((word, i) => {
    const last = i === words.length - 1;
    const choice = {
      delta: { content: word },
      finish_reason: last ? 'stop' : null,
      stop_reason: null,
    };
    out += `data: ${JSON.stringify({ ...head, choices: [choice] })}\n\n`;
  });
  if (includeUsage) {
    // Whisper's decoder prompt is a handful of special tokens.
    const usage = {
      prompt_tokens: 4,
      completion_tokens: words.length,
      total_tokens: 4 + words.length,
    };
    out += `data: ${JSON.stringify({ ...head, choices: [], usage })}\n\n`;
  }
  res.end(`${out}data: [DONE]\n\n`);
}

function srtTime(seconds: number): string {
  const ms = Math.round(seconds * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(Math.floor(ms / 3_600_000))}:${pad(Math.floor(ms / 60_000) % 60)}:${pad(Math.floor(ms / 1000) % 60)},${pad(ms % 1000, 3)}`;
}

function sendText(res: ServerResponse, type: string, body: string): void {
  res.writeHead(200, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// The request's content type, for the multipart routes.
export const contentTypeOf = (req: IncomingMessage) => req.headers['content-type'] ?? '';
