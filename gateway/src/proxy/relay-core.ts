// The relay's decisions, apart from how bytes arrive and leave: each chunk from the node
// goes in, what the client is to be sent for it comes out, and the meter learns what the
// chunk said. Two thin adapters drive it: relay.ts over Web streams (the Worker host, the
// tunnel, any Web Response) and relay-node.ts over node:http's messages (the Node host).
//
// It reads each block only to meter it (usage, first token, errors) and to hide the usage
// the gateway asked for on the client's behalf; every other block goes out exactly as
// received, and a chunk made only of such blocks goes out as the very bytes that came in.
import {
  blamesRequest,
  inspectChunk,
  parseObject,
  readError,
  type ChunkInfo,
  type JsonObject,
  type UpstreamError,
} from '../sse/inspect.ts';
import {
  DONE,
  MAX_SSE_EVENT_LENGTH,
  SseLimitError,
  SseParser,
  withData,
  type SseEvent,
} from '../sse/parser.ts';
import { BlockTemplates } from '../sse/template.ts';
import type { UsageMeter } from '../usage/meter.ts';

const encoder = new TextEncoder();

// What the client gets when the node fails mid-stream: OpenAI SDKs raise an APIError for a
// data block carrying `error`.
export function sseError(message: string, code: string): string {
  const error = { message, type: 'server_error', param: null, code };
  return `data: ${JSON.stringify({ error })}\n\n`;
}

// Engines send the usage chunk right after the last finish_reason; a client that leaves
// in between (the OpenAI SDKs stop reading at finish_reason when iterating by hand) would
// otherwise leave a row with no prompt tokens.
export const ABORT_GRACE_MS = 2000;

// How the part of a stream before its first content went. Until that content the client
// has received nothing (not even the status), so a failure there can still move the
// request to another instance.
//   live: content arrived, or the stream ended whole without any, or more than
//         MAX_HELD_BYTES came without any: the client gets its 200 and the held blocks;
//   failed: the node failed before any content (an error event or a data block with an
//         error that does not blame the request, a dropped connection, an end without
//         [DONE], a block over the SSE limits); the relay is over, the node call aborted;
//   timed_out: the node fell silent (idle timeout), not retried; the relay is over;
//   client_gone: the client left; the node call is aborted, the relay is over.
export type RelayStart =
  | { kind: 'live' }
  | { kind: 'failed'; reason: string }
  | { kind: 'timed_out'; error: unknown }
  | { kind: 'client_gone' };

// The blocks held before the first content are a role delta and a few comments; an engine
// that sends this much without content gets its stream relayed as it comes, no longer
// failed over.
export const MAX_HELD_BYTES = MAX_SSE_EVENT_LENGTH;

export interface RelayCoreOptions {
  // Whether the client asked for stream_options.include_usage itself.
  clientWantsUsage: boolean;
  meter: UsageMeter;
  // Reads one data block of this endpoint's stream (usage, output, errors, the end).
  // Default inspectChunk: chat and completions chunks.
  inspect?: (json: JsonObject) => ChunkInfo;
}

export class RelayCore {
  readonly #meter: UsageMeter;
  readonly #clientWantsUsage: boolean;
  readonly #inspect: (json: JsonObject) => ChunkInfo;
  readonly #parser = new SseParser();
  // Chat and completions blocks that repeat an earlier one but for their text are metered
  // from it, unparsed (sse/template.ts); other endpoints' events are always parsed.
  readonly #templates: BlockTemplates | undefined;
  // The last block of a chunk that could teach the templates.
  #learnFrom: { event: SseEvent; json: JsonObject; info: ChunkInfo } | null = null;
  // The stream's end arrived: `data: [DONE]`, or a typed event that ends it (Responses).
  #sawDone = false;
  // The engine sent a finish_reason: what is left is the usage chunk and [DONE].
  #sawFinish = false;
  // An error block that came before any content (start fails the attempt on it).
  #errorBeforeContent: UpstreamError | null = null;
  // What hold() kept for the client before its first content.
  #held: Uint8Array[] = [];
  #heldBytes = 0;
  #endedWhileHeld = false;

  constructor(opts: RelayCoreOptions) {
    this.#meter = opts.meter;
    this.#clientWantsUsage = opts.clientWantsUsage;
    this.#inspect = opts.inspect ?? inspectChunk;
    this.#templates = this.#inspect === inspectChunk ? new BlockTemplates() : undefined;
  }

  get sawDone(): boolean {
    return this.#sawDone;
  }

  // One chunk from the node: what goes to the client for it (null: nothing yet). Throws
  // SseLimitError when the node passes the SSE limits.
  chunk(value: Uint8Array): Uint8Array | null {
    const parser = this.#parser;
    const wasAtBoundary = parser.atBoundary;
    const templates = this.#templates;
    if (templates !== undefined && wasAtBoundary) {
      // The usual case: tokens' texts in the frame of the last block parsed.
      const infos = templates.match(value);
      if (infos !== null) {
        for (const info of infos) this.#meter.observeChunk(info);
        return value;
      }
    }
    this.#learnFrom = null;
    let out = '';
    let unchanged = true;
    for (const event of parser.push(value)) {
      const block = this.#relayBlock(event);
      if (block !== event.raw) unchanged = false;
      out += block;
    }
    if (wasAtBoundary && parser.atBoundary) {
      // Only whole blocks teach a template: a chunk cut mid-block says nothing of the frame.
      this.#learn();
      // Whole blocks in, none altered: the chunk goes out as it came, not re-encoded.
      if (unchanged && out) return value;
    }
    return out ? encoder.encode(out) : null;
  }

  // The node ended the stream (live): the blocks left, and an error block when the stream
  // ended before it was complete.
  end(): Uint8Array | null {
    let out = this.#rest();
    if (!this.#sawDone && !this.#meter.failed) {
      this.#meter.fail('upstream_error', 'upstream_incomplete');
      out += sseError('the node ended the stream before it was complete', 'upstream_error');
    }
    return out ? encoder.encode(out) : null;
  }

  // The node stream failed mid-answer (a dropped connection, silence, the SSE limits): the
  // meter learns why, and the client gets this error block last.
  failed(err: unknown, timedOut: boolean): Uint8Array {
    const code =
      err instanceof SseLimitError
        ? 'upstream_stream_too_large'
        : timedOut
          ? 'upstream_timeout'
          : 'upstream_error';
    this.#meter.fail('upstream_error', code);
    const reason = err instanceof Error ? err.message : 'connection lost';
    return encoder.encode(sseError(`the node stream failed: ${reason}`, code));
  }

  // Before the first content: one chunk read (or the end, value undefined) is held, and
  // the answer is whether the stream is live, failed, or needs more (null). Throws
  // SseLimitError as chunk() does.
  hold(value: Uint8Array | undefined): RelayStart | null {
    const ended = value === undefined;
    const out = ended ? encoder.encode(this.#rest()) : this.chunk(value);
    if (out && out.byteLength > 0) {
      this.#held.push(out);
      this.#heldBytes += out.byteLength;
    }
    // An error that blames the request would come from any instance: the client gets it as
    // the engine sent it, as it would after content.
    const error = this.#errorBeforeContent;
    if (error && !blamesRequest(error)) {
      return { kind: 'failed', reason: `error event before any content: ${error.message}` };
    }
    if (ended && !this.#sawDone && !error) {
      return { kind: 'failed', reason: 'the stream ended before any content' };
    }
    if (ended) this.#endedWhileHeld = true;
    if (ended || error || this.#meter.firstTokenMs !== null || this.#heldBytes > MAX_HELD_BYTES) {
      return { kind: 'live' };
    }
    return null;
  }

  // How a failure while holding ends the start: the client's leaving, silence, or a
  // failure that another instance may not have.
  startFailure(err: unknown, clientAborted: boolean, timedOut: boolean): RelayStart {
    if (clientAborted) return { kind: 'client_gone' };
    if (timedOut) return { kind: 'timed_out', error: err };
    const reason = `the node stream failed before any content: ${err instanceof Error ? err.message : String(err)}`;
    return { kind: 'failed', reason };
  }

  // The blocks held before the first content, handed over once; `ended` when the stream
  // ended while they were held (nothing more will come).
  takeHeld(): { blocks: Uint8Array[]; ended: boolean } {
    const blocks = this.#held;
    this.#held = [];
    this.#heldBytes = 0;
    return { blocks, ended: this.#endedWhileHeld };
  }

  // The client left. 'stop': the node call is to be aborted at once, so the engine stops
  // generating; 'grace': the engine is done with the answer and only its usage chunk is
  // missing, so the relay reads on (meterOnly) for a bounded while to meter it. Without it
  // the meter charges the estimated prompt and the counted deltas.
  clientLeft(): 'stop' | 'grace' {
    const meter = this.#meter;
    if (!this.#sawDone) meter.fail('client_aborted', null);
    return !this.#sawFinish || this.#sawDone || meter.hasUsage ? 'stop' : 'grace';
  }

  // After the client left: a chunk (or the end, ended true) only metered. True when
  // nothing more is worth reading (the usage, the end, or a failure).
  meterOnly(value: Uint8Array | undefined, ended: boolean): boolean {
    try {
      const events = ended ? this.#parser.end() : value ? this.#parser.push(value) : [];
      for (const event of events) {
        if (event.data === DONE) this.#sawDone = true;
        const json = event.data === undefined ? null : parseObject(event.data);
        if (json) this.#observe(json);
      }
    } catch {
      return true;
    }
    return ended || this.#sawDone || this.#meter.hasUsage;
  }

  // Teaches the templates the chunk's last block that could (its bytes encoded again: a few
  // times per stream at most).
  #learn(): void {
    const from = this.#learnFrom;
    if (from === null || this.#templates === undefined) return;
    this.#templates.learn(encoder.encode(from.event.raw), from.json, from.info);
  }

  #observe(json: JsonObject): ChunkInfo {
    const info = this.#inspect(json);
    this.#meter.observeChunk(info);
    if (info.finished > 0) this.#sawFinish = true;
    // A stream that ends with a typed event rather than [DONE] (Responses).
    if (info.ends === true) this.#sawDone = true;
    return info;
  }

  #upstreamError(error: UpstreamError): void {
    this.#meter.fail('error', error.code ?? error.type ?? 'upstream_error');
    if (this.#meter.firstTokenMs === null) this.#errorBeforeContent ??= error;
  }

  #relayBlock(event: SseEvent): string {
    if (event.data === undefined) return event.raw;
    if (event.data === DONE) {
      this.#sawDone = true;
      return event.complete ? event.raw : `${event.raw}\n\n`;
    }
    const json = parseObject(event.data);
    if (event.event === 'error') {
      this.#upstreamError(
        readError(json) ?? { message: event.data.slice(0, 200), type: null, code: null },
      );
      return event.raw;
    }
    if (!json) return event.raw;
    const info = this.#observe(json);
    if (this.#templates?.wants(info) === true && event.complete) {
      this.#learnFrom = { event, json, info };
    }
    if (info.error) {
      this.#upstreamError(info.error);
      return event.raw;
    }
    if (info.usage === null || this.#clientWantsUsage) return event.raw;
    // The usage exists only because the gateway asked for it: hide it.
    if (info.usageOnly) return '';
    delete json.usage;
    return withData(event, JSON.stringify(json));
  }

  // The node ended the stream: the blocks left. A block cut off by the end is dropped (as
  // an SSE client would), except a [DONE] that only lacks its blank line.
  #rest(): string {
    let out = '';
    for (const event of this.#parser.end()) {
      if (event.complete || event.data === DONE) out += this.#relayBlock(event);
    }
    return out;
  }
}
