// Audio uploads (POST /v1/audio/transcriptions and /translations): multipart bodies that are
// streamed through to the node rather than read whole. The gateway reads the upload only
// until it has seen the `model` field, which it must know to route; those bytes are held
// and sent first, the rest follows as it arrives. A client that puts `model` before `file`
// (curl -F model=... -F file=@...) has nothing of its file held; one that puts the file
// first has it held up to the upload's size bound (FLEETGATE_MAX_AUDIO_BYTES).
import { badRequest } from '../errors.ts';
import type { JsonObject } from '../sse/inspect.ts';
import type { UsageMeter } from '../usage/meter.ts';
import { boundaryOf, FormError, FormHeadScanner } from './form-head.ts';

// OpenAI's own limit on audio files (25 MB), as the default size bound of an upload.
export const DEFAULT_MAX_AUDIO_BYTES = 25 * 1024 * 1024;

export interface FormHead {
  model: string;
  // `stream` was set to true in a field before the model was found.
  stream: boolean;
  contentType: string;
  // The bytes read so far, to send ahead of `rest`.
  head: Uint8Array[];
  rest: ReadableStreamDefaultReader<Uint8Array>;
}

export async function readFormHead(request: Request): Promise<FormHead> {
  const contentType = request.headers.get('content-type') ?? '';
  const boundary = boundaryOf(contentType);
  if (!boundary) {
    throw badRequest(
      'audio requests must be multipart/form-data with a boundary',
      null,
      'invalid_request',
    );
  }
  if (!request.body)
    throw badRequest("missing required parameter: 'file'", 'file', 'missing_required_parameter');
  const reader = request.body.getReader();
  const scanner = new FormHeadScanner(boundary);
  const head: Uint8Array[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    head.push(value);
    try {
      scanner.push(value);
    } catch (err) {
      if (err instanceof FormError) throw badRequest(err.message, null, 'invalid_request');
      throw err;
    }
    if (scanner.fields.has('model') || scanner.complete) break;
  }
  const model = scanner.fields.get('model');
  if (!model) {
    throw badRequest("missing required parameter: 'model'", 'model', 'missing_required_parameter');
  }
  if (model.length > 256) throw badRequest("invalid 'model': too long", 'model', 'invalid_value');
  return {
    model,
    stream: scanner.fields.get('stream') === 'true',
    contentType,
    head,
    rest: reader,
  };
}

// vLLM (Whisper) reports `usage: {type: "duration", seconds}`; verbose_json answers carry
// `duration` too. Token-based usage (`{type: "tokens", input_tokens, ...}`) is read as
// tokens by the forwarder.
export function meterAudio(meter: UsageMeter, json: JsonObject): void {
  const usage = json.usage;
  const fromUsage =
    typeof usage === 'object' && usage !== null && 'seconds' in usage ? usage.seconds : undefined;
  const seconds = Number(fromUsage ?? json.duration);
  if (Number.isFinite(seconds) && seconds > 0) meter.audioSeconds = seconds;
}
