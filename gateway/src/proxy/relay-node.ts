// The Node host's relay of a direct node's stream (relay-core.ts decides): the node's
// IncomingMessage 'data' Buffers go through the core and are written straight to the
// client's ServerResponse, with no Web stream, reader or promise per chunk. A chunk the core
// passes unchanged is written as the very Buffer that came in.
//   - backpressure: the node's message is paused while the client's socket is full and
//     resumed on 'drain' (a slow client slows the node down, the gateway holds nothing);
//   - the client's leaving: the ServerResponse closing before it finished;
//   - silence: one timer per stream that compares the time of the last chunk on expiry,
//     never a timer per chunk; time spent waiting for the client does not count.
// Only types come from node:http, so this module costs the Worker bundle nothing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ChunkInfo, JsonObject } from '../sse/inspect.ts';
import type { UsageMeter } from '../usage/meter.ts';
import { ABORT_GRACE_MS, RelayCore, type RelayStart } from './relay-core.ts';
import type { UpstreamAbort } from './upstream.ts';

export interface NodeRelayOptions {
  // Whether the client asked for stream_options.include_usage itself.
  clientWantsUsage: boolean;
  meter: UsageMeter;
  // The node call: aborting it destroys the request, so the daemon stops the engine. Until
  // the stream is live it also listens to the client's request signal.
  upstream: UpstreamAbort;
  idleTimeoutMs: number;
  // After the client left, how long the engine's usage chunk is awaited. Default
  // ABORT_GRACE_MS.
  abortGraceMs?: number;
  inspect?: (json: JsonObject) => ChunkInfo;
}

// A live stream waiting to be written to the client (the host calls one of these once).
export interface DirectAnswer {
  // Writes the stream to the client's response, whose head the caller has written.
  sendTo(out: ServerResponse): void;
  // Nobody will send it (the app answered otherwise): the node call is aborted.
  cancel(reason: unknown): void;
}

export interface NodeRelay extends DirectAnswer {
  // Reads the stream until its first content (RelayStart's rules).
  start(): Promise<RelayStart>;
  // Settles once the stream ended, failed or was cancelled; the meter is final then.
  done: Promise<void>;
}

// holding: before the first content (start() decides); waiting: live, until the host
// takes the stream; live: relaying; grace: the client left, the usage chunk is awaited.
type Phase = 'holding' | 'waiting' | 'live' | 'grace' | 'over';

export function relayNode(source: IncomingMessage, opts: NodeRelayOptions): NodeRelay {
  const { meter, upstream, idleTimeoutMs } = opts;
  const core = new RelayCore(opts);
  const graceMs = opts.abortGraceMs ?? ABORT_GRACE_MS;
  let phase: Phase = 'holding';
  let out: ServerResponse | undefined;
  // What came while waiting for the host, and how the stream ended meanwhile.
  let pending: Uint8Array[] = [];
  let pendingEnd: { last: Uint8Array | null } | undefined;
  // Paused because the client's socket is full: silence from the node is not its fault.
  let blocked = false;
  let ended = false;
  let lastChunkAt = Date.now();
  let idleTimer: ReturnType<typeof setTimeout> | undefined;
  let graceTimer: ReturnType<typeof setTimeout> | undefined;
  let decide: (start: RelayStart) => void = () => undefined;
  const started = new Promise<RelayStart>((resolve) => {
    decide = resolve;
  });
  let settle: () => void = () => undefined;
  const done = new Promise<void>((resolve) => {
    settle = resolve;
  });

  const finish = () => {
    if (phase === 'over') return;
    phase = 'over';
    clearTimeout(idleTimer);
    clearTimeout(graceTimer);
    upstream.release();
    source.off('data', onData);
    out?.off('close', onClientClose);
    out?.off('drain', onDrain);
    settle();
  };
  const stopUpstream = (reason: unknown) => {
    upstream.abort(reason);
    source.destroy();
    finish();
  };

  // Everything the client is sent goes through here, so the meter knows the bytes out
  // (the access log's figure).
  const send = (bytes: Uint8Array) => {
    meter.bytesOut += bytes.byteLength;
    if (out?.write(bytes) === false && !ended) {
      blocked = true;
      source.pause();
    }
  };
  // The end of the answer for the client: the last bytes, then the response ends.
  const close = (last: Uint8Array | null) => {
    if (last) send(last);
    out?.end();
    finish();
  };
  // The stream is over for the node's side: sent now, or when the host takes the stream.
  const over = (last: Uint8Array | null) => {
    if (phase === 'waiting') pendingEnd = { last };
    else close(last);
  };

  // The stream failed (a dropped connection, silence, a block over the limits).
  const fail = (err: unknown, timedOut: boolean) => {
    if (phase === 'holding') {
      stopUpstream(err);
      decide(core.startFailure(err, upstream.clientAborted, timedOut));
      return;
    }
    if (phase === 'grace' || phase === 'over') {
      stopUpstream(err);
      return;
    }
    upstream.abort(err);
    source.destroy();
    clearTimeout(idleTimer);
    over(core.failed(err, timedOut));
  };

  const onIdle = () => {
    idleTimer = undefined;
    if (phase === 'over' || pendingEnd) return;
    const now = Date.now();
    // Waiting for the client (its socket, or the host to take the stream): not silence.
    if (blocked || phase === 'waiting') lastChunkAt = now;
    const quiet = now - lastChunkAt;
    if (quiet >= idleTimeoutMs) {
      fail(new Error(`the node sent nothing for ${idleTimeoutMs} ms`), true);
      return;
    }
    idleTimer = setTimeout(onIdle, idleTimeoutMs - quiet);
  };

  function onData(chunk: Buffer) {
    lastChunkAt = Date.now();
    try {
      if (phase === 'live') {
        const bytes = core.chunk(chunk);
        if (bytes) send(bytes);
      } else if (phase === 'grace') {
        if (core.meterOnly(chunk, false)) stopUpstream(new Error('the client left'));
      } else if (phase === 'holding') {
        const start = core.hold(chunk);
        if (start) decided(start);
      } else if (phase === 'waiting') {
        // A chunk already on its way when the node was paused.
        const bytes = core.chunk(chunk);
        if (bytes) pending.push(bytes);
      }
    } catch (err) {
      fail(err, false);
    }
  }
  function onEnd() {
    ended = true;
    try {
      if (phase === 'live' || phase === 'waiting') {
        clearTimeout(idleTimer);
        over(core.end());
      } else if (phase === 'grace') {
        core.meterOnly(undefined, true);
        finish();
      } else if (phase === 'holding') {
        const start = core.hold(undefined);
        if (start) decided(start);
      }
    } catch (err) {
      fail(err, false);
    }
  }
  // A close without an end: the connection dropped, or the upstream call was aborted (the
  // client left before the stream went live, or a time limit).
  function onClose() {
    if (ended || phase === 'over' || pendingEnd) return;
    const err = source.errored ?? new Error('the node closed the connection mid-answer');
    fail(err, upstream.timedOut);
  }
  function onDrain() {
    blocked = false;
    if (phase === 'live') source.resume();
  }
  function onClientClose() {
    if (phase === 'over' || out?.writableFinished === true) return;
    clientGone(new Error('the client closed the connection'));
  }

  const decided = (start: RelayStart) => {
    if (start.kind === 'live') {
      // Until the host takes the stream (once the app's middleware are done), the node waits.
      phase = 'waiting';
      upstream.release();
      if (!ended) source.pause();
    } else {
      stopUpstream(new Error(start.kind === 'failed' ? start.reason : start.kind));
    }
    decide(start);
  };

  // The client left. Unless only the usage chunk is missing, the node call is aborted at
  // once; else the rest is read for up to graceMs, only metered.
  const clientGone = (reason: unknown) => {
    if (phase === 'over' || phase === 'grace') return;
    // After the node's end nothing more will come to wait for.
    if (core.clientLeft() === 'stop' || ended || pendingEnd) {
      stopUpstream(reason);
      return;
    }
    phase = 'grace';
    blocked = false;
    graceTimer = setTimeout(() => stopUpstream(new Error('usage grace period over')), graceMs);
    source.resume();
  };

  source.on('data', onData);
  source.once('end', onEnd);
  source.once('close', onClose);
  // 'error' is followed by 'close', where it is handled; without a listener it would throw.
  source.on('error', () => undefined);
  idleTimer = setTimeout(onIdle, idleTimeoutMs);

  const sendTo = (response: ServerResponse) => {
    if (phase !== 'waiting') return;
    out = response;
    phase = 'live';
    if (response.destroyed) {
      clientGone(new Error('the client closed the connection'));
      return;
    }
    const held = core.takeHeld();
    for (const bytes of held.blocks) send(bytes);
    for (const bytes of pending) send(bytes);
    pending = [];
    if (held.ended) {
      close(null);
      return;
    }
    if (pendingEnd) {
      close(pendingEnd.last);
      return;
    }
    response.on('close', onClientClose);
    response.on('drain', onDrain);
    if (!blocked) source.resume();
  };

  const cancel = (reason: unknown) => {
    if (phase !== 'waiting') return;
    meter.fail('client_aborted', null);
    stopUpstream(reason);
  };

  return { start: () => started, done, sendTo, cancel };
}
