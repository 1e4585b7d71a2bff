// Reads a Responses API stream's typed events (`response.created`, …,
// `response.output_text.delta`, …, `response.completed`) into the same ChunkInfo the relay
// meters chat chunks with. Usage arrives only in the final event's `response.usage`
// ({input_tokens, output_tokens, total_tokens}); such streams end with that event, not
// with `data: [DONE]`. Each delta event carries one piece of generated output.
import { isObject, readError, readUsage, type ChunkInfo, type JsonObject } from './inspect.ts';

// Events that carry generated output: text, reasoning, refusals and tool-call arguments.
const OUTPUT_DELTAS = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
]);

// The response is over with these, whichever way it went.
const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

const NONE: ChunkInfo = {
  usage: null,
  choices: 0,
  outputs: 0,
  finished: 0,
  error: null,
  usageOnly: false,
};

export function inspectResponseEvent(event: JsonObject): ChunkInfo {
  const type = typeof event.type === 'string' ? event.type : '';
  if (OUTPUT_DELTAS.has(type)) {
    const delta = event.delta;
    const output = typeof delta === 'string' && delta.length > 0 ? 1 : 0;
    return { ...NONE, choices: 1, outputs: output };
  }
  if (TERMINAL.has(type)) {
    const response = isObject(event.response) ? event.response : {};
    const failed = type === 'response.failed';
    // A failed response carries `error: {code, message}` (or null with no detail).
    const error = failed
      ? (readError(response) ?? {
          message: 'the response failed',
          type: null,
          code: 'response_failed',
        })
      : null;
    return { ...NONE, usage: readUsage(response.usage), finished: 1, error, ends: true };
  }
  if (type === 'error') {
    const code = event.code;
    return {
      ...NONE,
      error: {
        message: typeof event.message === 'string' ? event.message : 'upstream error',
        type: null,
        code: typeof code === 'string' ? code : 'upstream_error',
      },
    };
  }
  return NONE;
}
