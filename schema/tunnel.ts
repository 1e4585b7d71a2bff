// The dial-out tunnel's wire protocol (README, "Tunnel mode"). A node without an inbound port
// keeps one WebSocket open to the gateway (GET /node/v1/tunnel with its node secret); the
// gateway sends each data-plane request over it as a stream of binary frames, one frame per
// WebSocket message. Pure encode/decode and flow-control arithmetic, imported by both the
// gateway and the daemon; Web-standard APIs only (it runs in workerd too).
//
// Frame: type (1 byte) | stream id (4 bytes, big-endian, >= 1) | payload.
//   request   gateway -> node  JSON head {method, path, headers}; the body follows as data
//   response  node -> gateway  JSON head {status, headers}; the answer follows as data
//   data      both ways        4-byte sequence number, then body bytes (at most
//                              TUNNEL_MAX_PAYLOAD_BYTES, within the receiver's window)
//   end       both ways        4-byte sequence number: no more data from this side
// Data and end frames of a stream and direction are numbered from 0; the receiver puts them
// back in order (InOrder), since a Durable Object's WebSocket events are not guaranteed to
// run in the order the node sent the messages (workerd was seen to reorder them).
//   abort     both ways        the stream is over (UTF-8 reason): a client that left, an
//                              engine that failed, a malformed frame
//   window    both ways        4-byte credit: the receiver consumed that many bytes
// Keep-alive: the daemon sends the text message TUNNEL_PING; the gateway answers TUNNEL_PONG
// (the Worker's Durable Object answers it without waking, see its auto-response).
import { z } from 'zod';

export const TUNNEL_PATH = '/node/v1/tunnel';
// What the gateway stores as a tunnel node's advertise URL: the node is reached through
// its tunnel, never by address.
export const TUNNEL_ADVERTISE_URL = 'tunnel:';
export const NODE_MODES = ['direct', 'tunnel'] as const;
export type NodeMode = (typeof NODE_MODES)[number];

export function nodeModeOf(advertiseUrl: string): NodeMode {
  return advertiseUrl === TUNNEL_ADVERTISE_URL ? 'tunnel' : 'direct';
}

// Largest data payload in one frame; longer bodies are split.
export const TUNNEL_MAX_PAYLOAD_BYTES = 64 * 1024;
// Largest JSON head (request or response).
export const TUNNEL_MAX_HEAD_BYTES = 32 * 1024;
export const TUNNEL_HEADER_BYTES = 5;
const SEQ_BYTES = 4;
// Largest frame either side accepts; a larger WebSocket message ends the connection.
export const TUNNEL_MAX_FRAME_BYTES = TUNNEL_HEADER_BYTES + SEQ_BYTES + TUNNEL_MAX_PAYLOAD_BYTES;
// Frames a receiver holds while waiting for an earlier one; more ends the stream.
export const TUNNEL_MAX_OUT_OF_ORDER = 256;
// Bytes a sender may have in flight per stream and direction before the receiver grants
// more (like HTTP/2's SETTINGS_INITIAL_WINDOW_SIZE). Bounds what a slow reader makes the
// other side buffer: a stream never holds more than this unread.
export const TUNNEL_WINDOW_BYTES = 256 * 1024;
// Streams open at once on one tunnel; more are refused (the gateway tries another instance).
export const TUNNEL_MAX_STREAMS = 4096;
const MAX_ABORT_REASON_BYTES = 1024;
const MAX_STREAM_ID = 0xffff_ffff;

export const TUNNEL_PING = 'ping';
export const TUNNEL_PONG = 'pong';
// How often the daemon pings; two missed pongs and it reconnects.
export const TUNNEL_PING_INTERVAL_MS = 15_000;

// Close codes (application range 4000-4999).
export const TUNNEL_CLOSE = {
  // A newer tunnel for the same node took over.
  replaced: 4001,
  // The node was removed, or its secret no longer opens a tunnel.
  unauthorized: 4003,
  // A frame broke the connection-level rules (too large, not binary).
  protocol: 4002,
  // The gateway is shutting down.
  goingAway: 1001,
} as const;

export const FRAME_TYPES = {
  request: 1,
  response: 2,
  data: 3,
  end: 4,
  abort: 5,
  window: 6,
} as const;
export type FrameTypeName = keyof typeof FRAME_TYPES;

const headerList = z.array(z.tuple([z.string().min(1).max(256), z.string().max(8192)])).max(128);

export const RequestHeadSchema = z.object({
  method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']),
  // Absolute path with query, never a URL: the daemon sends it to its own listener.
  path: z
    .string()
    .min(1)
    .max(4096)
    .regex(/^\/(?!\/)[^\s#]*$/, 'must be an absolute path'),
  headers: headerList,
});
export type RequestHead = z.infer<typeof RequestHeadSchema>;

export const ResponseHeadSchema = z.object({
  status: z.number().int().min(200).max(599),
  headers: headerList,
});
export type ResponseHead = z.infer<typeof ResponseHeadSchema>;

export type Frame =
  | { type: 'request'; stream: number; head: RequestHead }
  | { type: 'response'; stream: number; head: ResponseHead }
  | { type: 'data'; stream: number; seq: number; data: Uint8Array }
  | { type: 'end'; stream: number; seq: number }
  | { type: 'abort'; stream: number; reason: string }
  | { type: 'window'; stream: number; credit: number };

export type Decoded =
  | { ok: true; frame: Frame }
  // stream: the stream the bad frame named (end it), or null when even that is unreadable.
  | { ok: false; stream: number | null; error: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

function frameOf(type: number, stream: number, payload: Uint8Array | number): Uint8Array {
  const payloadBytes = typeof payload === 'number' ? payload : payload.byteLength;
  const out = new Uint8Array(TUNNEL_HEADER_BYTES + payloadBytes);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint32(1, stream);
  if (typeof payload !== 'number') out.set(payload, TUNNEL_HEADER_BYTES);
  return out;
}

function checkStream(stream: number): void {
  if (!Number.isInteger(stream) || stream < 1 || stream > MAX_STREAM_ID) {
    throw new RangeError(`tunnel stream id must be an integer from 1 to ${MAX_STREAM_ID}`);
  }
}

// Throws RangeError for a frame this side must never send (a payload over the limits).
export function encodeFrame(frame: Frame): Uint8Array {
  checkStream(frame.stream);
  const type = FRAME_TYPES[frame.type];
  switch (frame.type) {
    case 'request':
    case 'response': {
      const json = encoder.encode(JSON.stringify(frame.head));
      if (json.byteLength > TUNNEL_MAX_HEAD_BYTES) {
        throw new RangeError(`tunnel ${frame.type} head over ${TUNNEL_MAX_HEAD_BYTES} bytes`);
      }
      return frameOf(type, frame.stream, json);
    }
    case 'data': {
      if (frame.data.byteLength > TUNNEL_MAX_PAYLOAD_BYTES) {
        throw new RangeError(`tunnel data frame over ${TUNNEL_MAX_PAYLOAD_BYTES} bytes`);
      }
      const out = frameOf(type, frame.stream, SEQ_BYTES + frame.data.byteLength);
      new DataView(out.buffer).setUint32(TUNNEL_HEADER_BYTES, frame.seq);
      out.set(frame.data, TUNNEL_HEADER_BYTES + SEQ_BYTES);
      return out;
    }
    case 'end': {
      const out = frameOf(type, frame.stream, SEQ_BYTES);
      new DataView(out.buffer).setUint32(TUNNEL_HEADER_BYTES, frame.seq);
      return out;
    }
    case 'abort': {
      let reason = encoder.encode(frame.reason);
      if (reason.byteLength > MAX_ABORT_REASON_BYTES) {
        reason = encoder.encode(frame.reason.slice(0, MAX_ABORT_REASON_BYTES / 4));
      }
      return frameOf(type, frame.stream, reason);
    }
    case 'window': {
      if (!Number.isInteger(frame.credit) || frame.credit < 1 || frame.credit > MAX_STREAM_ID) {
        throw new RangeError('tunnel window credit must be a positive 32-bit integer');
      }
      const out = frameOf(type, frame.stream, 4);
      new DataView(out.buffer).setUint32(TUNNEL_HEADER_BYTES, frame.credit);
      return out;
    }
  }
}

function parseHead<T>(
  schema: z.ZodType<T>,
  payload: Uint8Array,
): { ok: true; head: T } | { ok: false; error: string } {
  if (payload.byteLength > TUNNEL_MAX_HEAD_BYTES) {
    return { ok: false, error: `head over ${TUNNEL_MAX_HEAD_BYTES} bytes` };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(payload));
  } catch {
    return { ok: false, error: 'head is not UTF-8 JSON' };
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `head ${issue?.path.join('.') ?? ''}: ${issue?.message ?? ''}` };
  }
  return { ok: true, head: parsed.data };
}

// Never throws: whatever the other side sent, the answer says which stream to end.
export function decodeFrame(message: Uint8Array): Decoded {
  if (message.byteLength < TUNNEL_HEADER_BYTES) {
    return { ok: false, stream: null, error: 'frame shorter than its header' };
  }
  if (message.byteLength > TUNNEL_MAX_FRAME_BYTES) {
    return { ok: false, stream: null, error: `frame over ${TUNNEL_MAX_FRAME_BYTES} bytes` };
  }
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const type = view.getUint8(0);
  const stream = view.getUint32(1);
  if (stream === 0) return { ok: false, stream: null, error: 'stream id 0' };
  const payload = message.subarray(TUNNEL_HEADER_BYTES);
  const bad = (error: string): Decoded => ({ ok: false, stream, error });
  switch (type) {
    case FRAME_TYPES.request: {
      const head = parseHead(RequestHeadSchema, payload);
      return head.ok
        ? { ok: true, frame: { type: 'request', stream, head: head.head } }
        : bad(head.error);
    }
    case FRAME_TYPES.response: {
      const head = parseHead(ResponseHeadSchema, payload);
      return head.ok
        ? { ok: true, frame: { type: 'response', stream, head: head.head } }
        : bad(head.error);
    }
    case FRAME_TYPES.data:
      if (payload.byteLength < SEQ_BYTES) return bad('data frame without a sequence number');
      if (payload.byteLength > SEQ_BYTES + TUNNEL_MAX_PAYLOAD_BYTES) {
        return bad(`data frame over ${TUNNEL_MAX_PAYLOAD_BYTES} bytes`);
      }
      return {
        ok: true,
        frame: {
          type: 'data',
          stream,
          seq: view.getUint32(TUNNEL_HEADER_BYTES),
          data: payload.subarray(SEQ_BYTES),
        },
      };
    case FRAME_TYPES.end:
      return payload.byteLength === SEQ_BYTES
        ? { ok: true, frame: { type: 'end', stream, seq: view.getUint32(TUNNEL_HEADER_BYTES) } }
        : bad('end frame without a 4-byte sequence number');
    case FRAME_TYPES.abort: {
      if (payload.byteLength > MAX_ABORT_REASON_BYTES) return bad('abort reason too long');
      let reason: string;
      try {
        reason = decoder.decode(payload);
      } catch {
        return bad('abort reason is not UTF-8');
      }
      return { ok: true, frame: { type: 'abort', stream, reason } };
    }
    case FRAME_TYPES.window: {
      if (payload.byteLength !== 4) return bad('window frame without a 4-byte credit');
      const credit = view.getUint32(TUNNEL_HEADER_BYTES);
      if (credit === 0) return bad('window credit 0');
      return { ok: true, frame: { type: 'window', stream, credit } };
    }
    default:
      return bad(`unknown frame type ${type}`);
  }
}

// The sending side of one stream's flow control: how many bytes may go out now.
export class SendWindow {
  #credit: number;
  readonly #size: number;

  constructor(size = TUNNEL_WINDOW_BYTES) {
    this.#credit = size;
    this.#size = size;
  }

  get credit(): number {
    return this.#credit;
  }

  // Bytes of the next data frame: what the window and the frame limit allow (0: wait).
  take(wanted: number): number {
    const n = Math.min(wanted, this.#credit, TUNNEL_MAX_PAYLOAD_BYTES);
    this.#credit -= n;
    return n;
  }

  // false: the peer granted more than it was sent (a protocol error).
  grant(credit: number): boolean {
    if (this.#credit + credit > this.#size) return false;
    this.#credit += credit;
    return true;
  }
}

// The receiving side: counts bytes the peer sent and what the reader consumed, and says
// when to grant credit back (half a window consumed, so the sender rarely stalls).
export class ReceiveWindow {
  #outstanding = 0;
  #consumed = 0;
  readonly #size: number;

  constructor(size = TUNNEL_WINDOW_BYTES) {
    this.#size = size;
  }

  // false: the peer sent past its window (a protocol error that ends the stream).
  received(bytes: number): boolean {
    this.#outstanding += bytes;
    return this.#outstanding <= this.#size;
  }

  // The reader took `bytes`; returns the credit to send now, or 0.
  consumed(bytes: number): number {
    this.#consumed += bytes;
    if (this.#consumed < this.#size / 2) return 0;
    const credit = this.#consumed;
    this.#outstanding -= credit;
    this.#consumed = 0;
    return credit;
  }
}

type Ordered = Extract<Frame, { type: 'data' | 'end' }>;

// Puts one stream's data and end frames back in the order they were sent.
export class InOrder {
  #next = 0;
  readonly #early = new Map<number, Ordered>();

  // The frames now due, in order ([] while an earlier one is missing); null: a duplicate,
  // or too many held (the stream ends).
  accept(frame: Ordered): Ordered[] | null {
    if (frame.seq < this.#next || this.#early.has(frame.seq)) return null;
    if (frame.seq !== this.#next) {
      if (this.#early.size >= TUNNEL_MAX_OUT_OF_ORDER) return null;
      this.#early.set(frame.seq, frame);
      return [];
    }
    const due: Ordered[] = [frame];
    this.#next += 1;
    for (let early = this.#early.get(this.#next); early; early = this.#early.get(this.#next)) {
      this.#early.delete(this.#next);
      due.push(early);
      this.#next += 1;
    }
    return due;
  }
}

// Hop-by-hop headers that never cross the tunnel: each side's HTTP stack sets its own.
export const HOP_BY_HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'host',
]);
