// The OpenAI API paths the gateway proxies, and which of them a deployment serves, worked out
// from its recipe and options. The gateway routes a request only to deployments that serve
// its path (404 `endpoint_not_supported` when none of the model's does) and the admin API
// shows each deployment's list. A recipe whose engine may serve a path lists it: whether
// the model itself can (a chat model asked to transcribe audio) is the engine's to say,
// and its 4xx reaches the client unchanged.
import type { RecipeName } from './contracts.ts';

export const OPENAI_PATHS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/images/generations',
  '/v1/audio/transcriptions',
  '/v1/audio/translations',
  '/v1/rerank',
  '/v1/score',
] as const;

export type OpenAIPath = (typeof OPENAI_PATHS)[number];

const TEXT: readonly OpenAIPath[] = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
];
const AUDIO: readonly OpenAIPath[] = ['/v1/audio/transcriptions', '/v1/audio/translations'];
const SCORING: readonly OpenAIPath[] = ['/v1/rerank', '/v1/score'];
const IMAGES: readonly OpenAIPath[] = ['/v1/images/generations'];

// vLLM-Omni (`vllm serve <model> --omni`) serves diffusion models' image generation and
// omni models' chat; SGLang Diffusion (`sglang serve --model-path <model>`) serves images.
export function endpointsOf(recipe: RecipeName, options: Record<string, unknown>): OpenAIPath[] {
  switch (recipe) {
    case 'vllm':
      return options.omni === true
        ? [...IMAGES, '/v1/chat/completions']
        : [...TEXT, ...AUDIO, ...SCORING];
    case 'sglang':
      return options.diffusion === true ? [...IMAGES] : [...TEXT, ...SCORING];
    case 'ollama':
      return [...TEXT];
    case 'llamacpp':
      return [...TEXT, '/v1/rerank'];
    case 'sim':
    case 'external':
      return [...OPENAI_PATHS];
  }
}
