// GET /admin/v1/deployments/{id}/logs?follow=true: the engine's tail and then its new lines
// as server-sent events, relayed from the node's NDJSON follow (schema/contracts.ts) through
// the NodeTransport (direct HTTP or a tunnel alike). Each event is
//   data: {"instance_id","node_id","line"}
// A comment every PING_MS keeps proxies from closing a quiet stream and shows a client that
// has left. The stream ends when the engine stops, the node goes away, or the client leaves
// (which aborts the node request).
import { LOG_LINE_MAX_BYTES, LogFollowRecordSchema } from '../../../schema/contracts.ts';

export const PING_MS = 15_000;
// An NDJSON record holds one line of at most LOG_LINE_MAX_BYTES, JSON-escaped (at most 6
// characters per byte, \u0000) in {"line":...}; a longer record is not from a sane node.
export const MAX_RECORD_CHARS = LOG_LINE_MAX_BYTES * 6 + 64;

export interface FollowTarget {
  instanceId: string;
  nodeId: string;
}

// Splits NDJSON text into records, refusing a record longer than maxChars. Pure, so the
// bound is tested without a node.
export class NdjsonSplitter {
  private rest = '';
  constructor(private readonly maxChars = MAX_RECORD_CHARS) {}

  push(text: string): string[] {
    const parts = (this.rest + text).split('\n');
    this.rest = parts.pop() ?? '';
    if (this.rest.length > this.maxChars) throw new Error('the node sent too long a log record');
    for (const part of parts) {
      if (part.length > this.maxChars) throw new Error('the node sent too long a log record');
    }
    return parts.filter((p) => p.trim() !== '');
  }
}

export function sseEvent(target: FollowTarget, line: string): string {
  return `data: ${JSON.stringify({ instance_id: target.instanceId, node_id: target.nodeId, line })}\n\n`;
}

// Relays the node's answer body as SSE. `hangUp` aborts the node request; it is called when
// the client leaves (the stream is canceled) and when the relay ends for any reason.
export function relayFollow(
  body: ReadableStream<Uint8Array>,
  target: FollowTarget,
  hangUp: () => void,
): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const splitter = new NdjsonSplitter();
  let ping: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  const stop = () => {
    if (closed) return;
    closed = true;
    clearInterval(ping);
    hangUp();
    reader.cancel().catch(() => undefined);
  };

  return new ReadableStream<Uint8Array>({
    start(controller) {
      ping = setInterval(() => {
        try {
          controller.enqueue(encoder.encode(': ping\n\n'));
        } catch {
          stop();
        }
      }, PING_MS);
    },
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          stop();
          controller.close();
          return;
        }
        let out = '';
        for (const record of splitter.push(decoder.decode(value, { stream: true }))) {
          const parsed = LogFollowRecordSchema.safeParse(JSON.parse(record));
          if (!parsed.success) throw new Error('the node sent a log record of the wrong shape');
          out += sseEvent(target, parsed.data.line);
        }
        if (out) controller.enqueue(encoder.encode(out));
      } catch (err) {
        // The client already has a 200: the stream ends with an event saying why.
        const message = err instanceof Error ? err.message : String(err);
        if (!closed) {
          controller.enqueue(
            encoder.encode(
              `event: error\ndata: ${JSON.stringify({ message: `log stream ended: ${message}` })}\n\n`,
            ),
          );
        }
        stop();
        controller.close();
      }
    },
    cancel() {
      stop();
    },
  });
}
