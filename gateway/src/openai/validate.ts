// The request bodies the gateway checks before it forwards anything: enough to route and
// meter the request and to refuse what no engine would accept. Everything else (sampling
// parameters, tools, ...) passes through for the engine to judge.
import { z } from 'zod';
import { badRequest } from '../errors.ts';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../lib/json-depth.ts';

const common = {
  model: z.string().min(1).max(256),
  stream: z.boolean().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
};
const textOrList = z.union([z.string(), z.array(z.unknown())]);
// Images per generation request (OpenAI's own bound).
export const MAX_IMAGES = 10;

export const ChatBodySchema = z.looseObject({ ...common, messages: z.array(z.unknown()) });
export const CompletionBodySchema = z.looseObject({ ...common, prompt: textOrList });
export const EmbeddingBodySchema = z.looseObject({ model: common.model, input: textOrList });
// `input` may be left out when the request continues a stored response or prompt.
export const ResponsesBodySchema = z.looseObject({
  model: common.model,
  stream: common.stream,
  input: textOrList.optional(),
  instructions: z.string().nullish(),
  max_output_tokens: z.number().int().positive().nullish(),
});

export type OpenAIBody = z.infer<
  typeof ChatBodySchema | typeof CompletionBodySchema | typeof EmbeddingBodySchema
>;

// Images: OpenAI's streamed partial images are not what the engines serve.
export const ImagesBodySchema = z.looseObject({
  model: common.model,
  prompt: z.string().min(1),
  n: z.number().int().min(1).max(MAX_IMAGES).nullish(),
  stream: z.literal(false, 'streamed image generation is not supported').optional(),
});
// vLLM's and SGLang's rerank: a query and the documents to order by relevance.
export const RerankBodySchema = z.looseObject({
  model: common.model,
  query: z.union([z.string(), z.looseObject({})]),
  documents: z.array(z.unknown()).min(1),
});
// vLLM's score ({text_1, text_2} or {queries, documents}) and SGLang's ({query, items}):
// the fields differ by engine and version, so only the model is checked here.
export const ScoreBodySchema = z.looseObject({ model: common.model });

export function parseBody<S extends z.ZodType<{ model: string }>>(
  text: string,
  schema: S,
): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw badRequest('the request body is not valid JSON', null, 'invalid_json');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw badRequest('the request body must be a JSON object', null, 'invalid_json');
  }
  if (nestsDeeperThan(json, MAX_JSON_DEPTH)) {
    throw badRequest(
      `the request body nests deeper than ${MAX_JSON_DEPTH} levels`,
      null,
      'invalid_json',
    );
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return parsed.data;
  const [issue] = parsed.error.issues;
  const param = issue?.path.join('.') || null;
  const missing =
    param !== null && !(issue?.path[0] !== undefined && String(issue.path[0]) in json);
  if (missing)
    throw badRequest(`missing required parameter: '${param}'`, param, 'missing_required_parameter');
  throw badRequest(
    `invalid '${param ?? 'body'}': ${issue?.message ?? 'invalid value'}`,
    param,
    'invalid_value',
  );
}
