// Relays an engine's SSE stream to the client as it arrives, never holding more than the
// current unfinished block: the Web-streams adapter of the relay (relay-core.ts decides),
// for answers that arrive as a Web Response (the Worker host, tunnel nodes). The Node host
// relays direct nodes' answers with relay-node.ts.
import type { ChunkInfo, JsonObject } from '../sse/inspect.ts';
import type { UsageMeter } from '../usage/meter.ts';
import { ABORT_GRACE_MS, RelayCore, type RelayStart } from './relay-core.ts';
import type { UpstreamAbort } from './upstream.ts';

export { ABORT_GRACE_MS, MAX_HELD_BYTES, sseError, type RelayStart } from './relay-core.ts';

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

export interface Relay {
  // Reads the stream until its first content (RelayStart's rules); optional, a relay that
  // is read without it sends every block as it comes.
  start(): Promise<RelayStart>;
  stream: ReadableStream<Uint8Array>;
  // Settles once the stream ended, failed or was cancelled; the meter is final then.
  done: Promise<void>;
}

export function relaySse(body: ReadableStream<Uint8Array>, opts: RelayOptions): Relay {
  const { meter, upstream, clientSignal } = opts;
  const core = new RelayCore(opts);
  const graceMs = opts.abortGraceMs ?? ABORT_GRACE_MS;
  const reader = body.getReader();
  const idle = upstream.idleReader(reader, opts.idleTimeoutMs);
  // The client is gone (cancelled the stream, or its connection closed).
  let cancelled = false;
  let settled = false;
  // The relay answers the client's leaving itself (start() leaves that to the upstream
  // call, which aborts the pending read).
  let live = false;
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

  const clientGone = (reason: unknown) => {
    if (cancelled) return;
    cancelled = true;
    if (core.clientLeft() === 'stop') {
      stopUpstream(reason);
      return;
    }
    const timer = setTimeout(() => stopUpstream(new Error('usage grace period over')), graceMs);
    const drain = async () => {
      try {
        for (;;) {
          const { done: ended, value } = await idle.read();
          if (core.meterOnly(value, ended)) break;
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
    try {
      for (;;) {
        const { done: ended, value } = await idle.read();
        if (upstream.clientAborted) {
          stopUpstream(clientSignal.reason);
          return { kind: 'client_gone' };
        }
        const decided = core.hold(ended ? undefined : value);
        if (decided === null) continue;
        if (decided.kind === 'live') goLive();
        else stopUpstream(new Error(decided.kind === 'failed' ? decided.reason : decided.kind));
        return decided;
      }
    } catch (err) {
      stopUpstream(err);
      return core.startFailure(err, upstream.clientAborted, isTimeout(err));
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
        const held = core.takeHeld();
        if (held.blocks.length > 0 || held.ended) {
          for (const bytes of held.blocks) send(controller, bytes);
          if (held.ended) {
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
              if (core.meterOnly(value, ended)) stopUpstream(clientSignal.reason);
              return;
            }
            if (ended) {
              const out = core.end();
              if (out) send(controller, out);
              controller.close();
              finish();
              return;
            }
            const out = core.chunk(value);
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
          const out = core.failed(err, isTimeout(err));
          upstream.abort(err);
          reader.cancel(err).catch(() => undefined);
          send(controller, out);
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
