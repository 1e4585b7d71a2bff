// The bytes of an answer, formatted as vLLM's OpenAI server formats them. A stream's
// frames share everything but the token text, so each request builds its frame prefix and
// suffixes once and a token costs two string concatenations.
import { tokenJson } from './vocabulary.ts';
import type { FinishReason } from './requests.ts';

export type Endpoint = 'chat' | 'completion';

export interface Usage {
  prompt_tokens: number;
  total_tokens: number;
  completion_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    total_tokens: promptTokens + completionTokens,
    completion_tokens: completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

export class StreamFrames {
  private readonly head: string;
  private readonly tokenPrefix: string;
  private readonly tokenSuffix: string;
  private readonly lastSuffix: string;

  constructor(
    private readonly endpoint: Endpoint,
    id: string,
    created: number,
    model: string,
    private readonly textSeed: number,
    finishReason: FinishReason,
  ) {
    const object = endpoint === 'chat' ? 'chat.completion.chunk' : 'text_completion';
    this.head = `data: {"id":"${id}","object":"${object}","created":${created},"model":${JSON.stringify(model)},`;
    if (endpoint === 'chat') {
      this.tokenPrefix = `${this.head}"choices":[{"index":0,"delta":{"content":"`;
      this.tokenSuffix = `"},"logprobs":null,"finish_reason":null}]}\n\n`;
      this.lastSuffix = `"},"logprobs":null,"finish_reason":"${finishReason}","stop_reason":null}]}\n\n`;
    } else {
      this.tokenPrefix = `${this.head}"choices":[{"index":0,"text":"`;
      this.tokenSuffix = `","logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n`;
      this.lastSuffix = `","logprobs":null,"finish_reason":"${finishReason}","stop_reason":null}]}\n\n`;
    }
  }

  // vLLM opens a chat stream with the assistant's role and empty content, together with
  // the first token; completions have no such frame.
  role(): string {
    return this.endpoint === 'chat'
      ? `${this.head}"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`
      : '';
  }

  // Tokens [from, to); the finish reason rides on the last token of the answer, as in vLLM.
  tokens(from: number, to: number, finishesAnswer: boolean): string {
    let out = '';
    for (let i = from; i < to; i++) {
      out += this.tokenPrefix + tokenJson(this.textSeed, i);
      out += finishesAnswer && i === to - 1 ? this.lastSuffix : this.tokenSuffix;
    }
    return out;
  }

  // The include_usage frame: no choices, only usage.
  usage(u: Usage): string {
    return `${this.head}"choices":[],"usage":${JSON.stringify(u)}}\n\n`;
  }
}

export const DONE_FRAME = 'data: [DONE]\n\n';

export function errorFrame(errorJson: string): string {
  return `data: ${errorJson}\n\n`;
}

export function chatCompletionBody(
  id: string,
  created: number,
  model: string,
  text: string,
  finishReason: FinishReason,
  u: Usage,
): string {
  return JSON.stringify({
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null, tool_calls: [] },
        logprobs: null,
        finish_reason: finishReason,
        stop_reason: null,
      },
    ],
    service_tier: null,
    system_fingerprint: null,
    usage: u,
    prompt_logprobs: null,
  });
}

export function completionBody(
  id: string,
  created: number,
  model: string,
  text: string,
  finishReason: FinishReason,
  u: Usage,
): string {
  return JSON.stringify({
    id,
    object: 'text_completion',
    created,
    model,
    choices: [
      {
        index: 0,
        text,
        logprobs: null,
        finish_reason: finishReason,
        stop_reason: null,
        prompt_logprobs: null,
      },
    ],
    service_tier: null,
    system_fingerprint: null,
    usage: u,
  });
}
