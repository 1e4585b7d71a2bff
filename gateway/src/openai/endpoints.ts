// The JSON inference endpoints as data: how each body is checked, whether it streams, and
// how its answer is metered besides the engine's token usage. openai/index.ts proxies
// them all through one path; the multipart audio uploads have their own (audio.ts).
import type { z } from 'zod';
import type { OpenAIPath } from '../../../schema/endpoints.ts';
import type { ChunkInfo, JsonObject } from '../sse/inspect.ts';
import { inspectResponseEvent } from '../sse/responses.ts';
import type { UsageMeter } from '../usage/meter.ts';
import { meterAudio } from './audio.ts';
import {
  ChatBodySchema,
  CompletionBodySchema,
  EmbeddingBodySchema,
  ImagesBodySchema,
  RerankBodySchema,
  ResponsesBodySchema,
  ScoreBodySchema,
} from './validate.ts';

export interface Endpoint {
  path: OpenAIPath;
  // Reads a block of the stream for the meter; default: chat chunks.
  inspect?: (json: JsonObject) => ChunkInfo;
  // Meters a whole answer beyond its `usage` (images made).
  meterAnswer?: (meter: UsageMeter, json: JsonObject) => void;
  // The answer may be other than a JSON object (SGLang's rerank answers an array).
  rawAnswer?: boolean;
}

export interface JsonEndpoint extends Endpoint {
  schema: z.ZodType<{ model: string; stream?: boolean | undefined }>;
  // Whether `"stream": true` is honoured; where not, stream fields are dropped.
  streams: boolean;
}

// Multipart uploads, streamed through (audio.ts); answers as JSON, text, srt or vtt.
export const UPLOAD_ENDPOINTS: readonly Endpoint[] = [
  { path: '/v1/audio/transcriptions', meterAnswer: meterAudio, rawAnswer: true },
  { path: '/v1/audio/translations', meterAnswer: meterAudio, rawAnswer: true },
];

// Images generated: the entries of the answer's `data` (b64_json or url each).
export function meterImages(meter: UsageMeter, json: JsonObject): void {
  if (Array.isArray(json.data)) meter.images = json.data.length;
}

export const JSON_ENDPOINTS: readonly JsonEndpoint[] = [
  { path: '/v1/chat/completions', schema: ChatBodySchema, streams: true },
  { path: '/v1/completions', schema: CompletionBodySchema, streams: true },
  { path: '/v1/embeddings', schema: EmbeddingBodySchema, streams: false },
  {
    path: '/v1/responses',
    schema: ResponsesBodySchema,
    streams: true,
    inspect: inspectResponseEvent,
  },
  {
    path: '/v1/images/generations',
    schema: ImagesBodySchema,
    streams: false,
    meterAnswer: meterImages,
  },
  { path: '/v1/rerank', schema: RerankBodySchema, streams: false, rawAnswer: true },
  { path: '/v1/score', schema: ScoreBodySchema, streams: false, rawAnswer: true },
];
