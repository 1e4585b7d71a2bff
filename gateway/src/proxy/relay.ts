// Relays an engine's SSE stream to the client as it arrives, never holding more than the
// current unfinished block. It reads each block only to meter it (usage, first token,
// errors) and to hide the usage the gateway asked for on the client's behalf; every other
// block goes out exactly as received.
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
import type { UsageMeter } from '../usage/meter.ts';
import type { UpstreamAbort } from './upstream.ts';

const encoder = new TextEncoder();

// What the client gets when the node fails mid-stream: OpenAI SDKs raise an APIError for a
// data block carrying `error`.
export function sseError(message: string, code: string): string {
  const error = { message, type: 'server_error', param: null, code };
  return `data: ${JSON.stringify({ error })}\n\n`;
}

export interface RelayOptions {
  // Whether the client asked for stream_options.include_usage itself.
  clientWantsUsage: boolean;
  meter: UsageMeter;
  upstream: UpstreamAbort;
  // The client's request signal. The relay, not the upstream call, reacts to it: a client
  // that leaves after the engine finished still lets the usage chunk arrive.
  clientSignal: AbortSignal;
  idleTimeoutMs: number;
  // After the client left, how long the engine's usage chunk is awaited. Default
  // ABORT_GRACE_MS.
  abortGraceMs?: number;
  // Reads one data block of this endpoint's stream (usage, output, errors, the end).
  // Default inspectChunk: chat and completions chunks.
  inspect?: (json: JsonObject) => ChunkInfo;
}

// Engines send the usage chunk right after the last finish_reason; a client that leaves
// in between (the OpenAI SDKs stop reading at finish_reason when iterating by hand) would
// otherwise leave a row with no prompt tokens.
export const ABORT_GRACE_MS = 2000;

export interface Relay {
  // Reads the stream until its first content (relayStart's rules); optional, a relay that
  // is read without it sends every block as it comes.
  start(): Promise<RelayStart>;
  stream: ReadableStream<Uint8Array>;
  // Settles once the stream ended, failed or was cancelled; the meter is final then.
  done: Promise<void>;
}

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

export function relaySse(body: ReadableStream<Uint8Array>, opts: RelayOptions): Relay {
  const { meter, upstream, clientWantsUsage, clientSignal } = opts;
  const inspect = opts.inspect ?? inspectChunk;
  const graceMs = opts.abortGraceMs ?? ABORT_GRACE_MS;
  const reader = body.getReader();
  const idle = upstream.idleReader(reader, opts.idleTimeoutMs);
  const parser = new SseParser();
  let sawDone = false;
  // The engine sent a finish_reason: what is left is the usage chunk and [DONE].
  let sawFinish = false;
  // The client is gone (cancelled the stream, or its connection closed).
  let cancelled = false;
  let settled = false;
  // The relay answers the client's leaving itself (start() leaves that to the upstream
  // call, which aborts the pending read).
  let live = false;
  // Blocks read by start() and not sent yet, and whether the stream ended meanwhile.
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  let endedWhileHeld = false;
  // An error block that came before any content (start() fails the attempt on it).
  let errorBeforeContent: UpstreamError | null = null;
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });
  const finish = () => {
    if (settled) return;
    settled = true;
    idle.stop();
    upstream.release();
    clientSignal.removeEventListener('abort', onClientAbort);
    settle();
  };

  const observe = (json: JsonObject): ChunkInfo => {
    const info = inspect(json);
    meter.observeChunk(info);
    if (info.finished > 0) sawFinish = true;
    // A stream that ends with a typed event rather than [DONE] (Responses).
    if (info.ends === true) sawDone = true;
    return info;
  };

  const upstreamError = (error: UpstreamError) => {
    meter.fail('error', error.code ?? error.type ?? 'upstream_error');
    if (meter.firstTokenMs === null) errorBeforeContent ??= error;
  };

  const relayBlock = (event: SseEvent): string => {
    if (event.data === undefined) return event.raw;
    if (event.data === DONE) {
      sawDone = true;
      return event.complete ? event.raw : `${event.raw}\n\n`;
    }
    const json = parseObject(event.data);
    if (event.event === 'error') {
      upstreamError(
        readError(json) ?? { message: event.data.slice(0, 200), type: null, code: null },
      );
      return event.raw;
    }
    if (!json) return event.raw;
    const info = observe(json);
    if (info.error) {
      upstreamError(info.error);
      return event.raw;
    }
    if (info.usage === null || clientWantsUsage) return event.raw;
    // The usage exists only because the gateway asked for it: hide it.
    if (info.usageOnly) return '';
    delete json.usage;
    return withData(event, JSON.stringify(json));
  };

  // One chunk from the node: what goes to the client for it (null: nothing yet).
  const relayChunk = (value: Uint8Array): Uint8Array | null => {
    const wasAtBoundary = parser.atBoundary;
    let out = '';
    let unchanged = true;
    for (const event of parser.push(value)) {
      const block = relayBlock(event);
      if (block !== event.raw) unchanged = false;
      out += block;
    }
    // The usual case: whole blocks in, none altered; the chunk goes out as it came, with
    // no re-encoding.
    if (unchanged && wasAtBoundary && parser.atBoundary && out) return value;
    return out ? encoder.encode(out) : null;
  };

  // The node ended the stream: the blocks left. A block cut off by the end is dropped (as
  // an SSE client would), except a [DONE] that only lacks its blank line.
  const relayEnd = (): string => {
    let out = '';
    for (const event of parser.end()) {
      if (event.complete || event.data === DONE) out += relayBlock(event);
    }
    return out;
  };

  // After the client left: blocks are only metered, until the usage chunk or the end.
  const meterOnly = (value: Uint8Array | undefined, ended: boolean): boolean => {
    try {
      const events = ended ? parser.end() : value ? parser.push(value) : [];
      for (const event of events) {
        if (event.data === DONE) sawDone = true;
        const json = event.data === undefined ? null : parseObject(event.data);
        if (json) observe(json);
      }
    } catch {
      return true;
    }
    return ended || sawDone || meter.hasUsage;
  };

  // The client left. Unless the engine is done with the answer and only its usage chunk is
  // missing, the node request is aborted at once, so the engine stops generating; else the
  // relay keeps reading for up to graceMs to meter that chunk. Without it the meter charges
  // the estimated prompt and the counted deltas.
  const clientGone = (reason: unknown) => {
    if (cancelled) return;
    cancelled = true;
    if (!sawDone) meter.fail('client_aborted', null);
    if (!sawFinish || sawDone || meter.hasUsage) {
      stopUpstream(reason);
      return;
    }
    const timer = setTimeout(() => stopUpstream(new Error('usage grace period over')), graceMs);
    const drain = async () => {
      try {
        for (;;) {
          const { done: ended, value } = await idle.read();
          if (meterOnly(value, ended)) break;
        }
      } catch {
        // The grace period ended, or the node failed: the meter keeps what it saw.
      } finally {
        clearTimeout(timer);
        stopUpstream(reason);
      }
    };
    void drain();
  };
  const stopUpstream = (reason: unknown) => {
    upstream.abort(reason);
    reader.cancel(reason).catch(() => undefined);
    finish();
  };
  function onClientAbort() {
    clientGone(clientSignal.reason);
  }
  const goLive = () => {
    if (live) return;
    live = true;
    upstream.release();
    clientSignal.addEventListener('abort', onClientAbort, { once: true });
    if (clientSignal.aborted) onClientAbort();
  };

  const isTimeout = (err: unknown): boolean => {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause : undefined;
    return (
      upstream.timedOut ||
      (cause !== undefined && 'code' in cause && cause.code === 'UND_ERR_BODY_TIMEOUT')
    );
  };

  const start = async (): Promise<RelayStart> => {
    const fail = (reason: unknown, result: RelayStart): RelayStart => {
      stopUpstream(reason);
      return result;
    };
    try {
      for (;;) {
        const { done: ended, value } = await idle.read();
        if (upstream.clientAborted) return fail(clientSignal.reason, { kind: 'client_gone' });
        const out = ended ? encoder.encode(relayEnd()) : relayChunk(value);
        if (out && out.byteLength > 0) {
          held.push(out);
          heldBytes += out.byteLength;
        }
        // An error that blames the request would come from any instance: the client gets
        // it as the engine sent it, as it would after content.
        const error = errorBeforeContent;
        if (error && !blamesRequest(error)) {
          const reason = `error event before any content: ${error.message}`;
          return fail(new Error(reason), { kind: 'failed', reason });
        }
        if (ended && !sawDone && !error) {
          const reason = 'the stream ended before any content';
          return fail(new Error(reason), { kind: 'failed', reason });
        }
        if (ended) endedWhileHeld = true;
        if (ended || error || meter.firstTokenMs !== null || heldBytes > MAX_HELD_BYTES) {
          goLive();
          return { kind: 'live' };
        }
      }
    } catch (err) {
      if (upstream.clientAborted) return fail(err, { kind: 'client_gone' });
      if (isTimeout(err)) return fail(err, { kind: 'timed_out', error: err });
      const reason = `the node stream failed before any content: ${err instanceof Error ? err.message : String(err)}`;
      return fail(err, { kind: 'failed', reason });
    }
  };

  // Everything the client is sent goes through here, so the meter knows the bytes out
  // (the access log's figure) without another stream around this one.
  const send = (controller: ReadableStreamDefaultController<Uint8Array>, bytes: Uint8Array) => {
    meter.bytesOut += bytes.byteLength;
    controller.enqueue(bytes);
  };

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        goLive();
        if (cancelled) {
          controller.close();
          return;
        }
        if (heldBytes > 0 || endedWhileHeld) {
          for (const bytes of held) send(controller, bytes);
          held = [];
          heldBytes = 0;
          if (endedWhileHeld) {
            controller.close();
            finish();
          }
          return;
        }
        try {
          for (;;) {
            const { done: ended, value } = await idle.read();
            if (cancelled) {
              // A read that was waiting when the client left: its blocks still count.
              if (meterOnly(value, ended)) stopUpstream(clientSignal.reason);
              return;
            }
            if (ended) {
              let out = relayEnd();
              if (!sawDone && !meter.failed) {
                meter.fail('upstream_error', 'upstream_incomplete');
                out += sseError(
                  'the node ended the stream before it was complete',
                  'upstream_error',
                );
              }
              if (out) send(controller, encoder.encode(out));
              controller.close();
              finish();
              return;
            }
            const out = relayChunk(value);
            if (out) {
              send(controller, out);
              return;
            }
          }
        } catch (err) {
          if (cancelled) return;
          if (upstream.clientAborted) {
            // The client's connection closed while the upstream call still listened to it.
            clientGone(err);
            controller.close();
            return;
          }
          const code =
            err instanceof SseLimitError
              ? 'upstream_stream_too_large'
              : isTimeout(err)
                ? 'upstream_timeout'
                : 'upstream_error';
          meter.fail('upstream_error', code);
          upstream.abort(err);
          reader.cancel(err).catch(() => undefined);
          const reason = err instanceof Error ? err.message : 'connection lost';
          send(controller, encoder.encode(sseError(`the node stream failed: ${reason}`, code)));
          controller.close();
          finish();
        }
      },
      cancel(reason) {
        clientGone(reason);
      },
      // Pulled only when the client reads: never before start() has decided.
    },
    { highWaterMark: 0 },
  );
  return { start, stream, done };
}
