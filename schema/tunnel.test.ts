import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeFrame,
  FRAME_TYPES,
  InOrder,
  nodeModeOf,
  ReceiveWindow,
  SendWindow,
  TUNNEL_ADVERTISE_URL,
  TUNNEL_MAX_FRAME_BYTES,
  TUNNEL_MAX_OUT_OF_ORDER,
  TUNNEL_MAX_PAYLOAD_BYTES,
  TUNNEL_WINDOW_BYTES,
  type Frame,
} from './tunnel.ts';

function raw(type: number, stream: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  view.setUint32(1, stream);
  out.set(payload, 5);
  return out;
}

const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('tunnel frames', () => {
  const frames: Frame[] = [
    {
      type: 'request',
      stream: 1,
      head: {
        method: 'POST',
        path: '/v1/chat/completions?x=1',
        headers: [
          ['authorization', 'Bearer t'],
          ['content-type', 'application/json'],
        ],
      },
    },
    { type: 'response', stream: 7, head: { status: 200, headers: [['x-a', 'b']] } },
    { type: 'data', stream: 0xffff_ffff, seq: 7, data: new Uint8Array([1, 2, 3]) },
    { type: 'end', stream: 2, seq: 0xffff_ffff },
    { type: 'abort', stream: 3, reason: 'the client left' },
    { type: 'window', stream: 4, credit: 131_072 },
  ];
  it.each(frames)('encodes and decodes a $type frame', (frame) => {
    const decoded = decodeFrame(encodeFrame(frame));
    expect(decoded).toEqual({ ok: true, frame });
  });

  it('decodes a frame that is a view into a larger buffer', () => {
    const frame = encodeFrame({ type: 'window', stream: 9, credit: 5 });
    const big = new Uint8Array(frame.byteLength + 10);
    big.set(frame, 3);
    expect(decodeFrame(big.subarray(3, 3 + frame.byteLength))).toEqual({
      ok: true,
      frame: { type: 'window', stream: 9, credit: 5 },
    });
  });

  it('refuses to encode what the other side would refuse', () => {
    expect(() =>
      encodeFrame({
        type: 'data',
        stream: 1,
        seq: 0,
        data: new Uint8Array(TUNNEL_MAX_PAYLOAD_BYTES + 1),
      }),
    ).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'end', stream: 0, seq: 0 })).toThrow(RangeError);
    expect(() => encodeFrame({ type: 'window', stream: 1, credit: 0 })).toThrow(RangeError);
  });

  it('names the stream of a malformed frame, so only that stream ends', () => {
    const cases: [Uint8Array, RegExp][] = [
      [raw(FRAME_TYPES.request, 5, new TextEncoder().encode('{not json')), /JSON/],
      [
        raw(FRAME_TYPES.request, 5, json({ method: 'POST', path: 'http://evil/', headers: [] })),
        /path/,
      ],
      [raw(FRAME_TYPES.request, 5, json({ method: 'BREW', path: '/v1', headers: [] })), /method/],
      [raw(FRAME_TYPES.response, 5, json({ status: 101, headers: [] })), /status/],
      [raw(FRAME_TYPES.end, 5, new Uint8Array([1])), /sequence/],
      [raw(FRAME_TYPES.data, 5, new Uint8Array([1, 2])), /sequence/],
      [raw(FRAME_TYPES.window, 5, new Uint8Array([0, 0, 0, 0])), /credit 0/],
      [raw(FRAME_TYPES.window, 5, new Uint8Array([1])), /4-byte/],
      [raw(FRAME_TYPES.abort, 5, new Uint8Array([0xff, 0xfe])), /UTF-8/],
      [raw(99, 5), /unknown frame type 99/],
      [raw(FRAME_TYPES.data, 5, new Uint8Array(TUNNEL_MAX_PAYLOAD_BYTES + 5)), /over/],
    ];
    for (const [message, error] of cases) {
      const decoded = decodeFrame(message);
      expect(decoded.ok).toBe(false);
      if (decoded.ok) continue;
      expect(decoded.stream === 5 || message.byteLength > TUNNEL_MAX_FRAME_BYTES).toBe(true);
      expect(decoded.error).toMatch(error);
    }
  });

  it('answers frames without a readable stream with stream null', () => {
    expect(decodeFrame(new Uint8Array([1, 0, 0]))).toMatchObject({ ok: false, stream: null });
    expect(decodeFrame(raw(FRAME_TYPES.end, 0))).toMatchObject({ ok: false, stream: null });
    expect(decodeFrame(new Uint8Array(TUNNEL_MAX_FRAME_BYTES + 1))).toMatchObject({
      ok: false,
      stream: null,
    });
  });
});

describe('flow control', () => {
  it('lets a sender send one window, then only what the receiver consumed', () => {
    const send = new SendWindow();
    const recv = new ReceiveWindow();
    let sent = 0;
    for (;;) {
      const n = send.take(100_000);
      if (n === 0) break;
      expect(n).toBeLessThanOrEqual(TUNNEL_MAX_PAYLOAD_BYTES);
      expect(recv.received(n)).toBe(true);
      sent += n;
    }
    expect(sent).toBe(TUNNEL_WINDOW_BYTES);
    // A reader that takes less than half a window grants nothing yet.
    expect(recv.consumed(1000)).toBe(0);
    const credit = recv.consumed(TUNNEL_WINDOW_BYTES / 2);
    expect(credit).toBe(TUNNEL_WINDOW_BYTES / 2 + 1000);
    expect(send.grant(credit)).toBe(true);
    expect(send.take(Number.MAX_SAFE_INTEGER)).toBe(TUNNEL_MAX_PAYLOAD_BYTES);
  });

  it('catches a sender that overruns the window and a receiver that grants too much', () => {
    const recv = new ReceiveWindow(100);
    expect(recv.received(100)).toBe(true);
    expect(recv.received(1)).toBe(false);
    const send = new SendWindow(100);
    expect(send.grant(1)).toBe(false);
    send.take(50);
    expect(send.grant(50)).toBe(true);
    expect(send.grant(1)).toBe(false);
  });
});

describe('InOrder', () => {
  const data = (seq: number) => ({ type: 'data' as const, stream: 1, seq, data: new Uint8Array() });
  it('hands frames over in sequence, holding early ones', () => {
    const order = new InOrder();
    expect(order.accept(data(1))).toEqual([]);
    expect(order.accept({ type: 'end', stream: 1, seq: 2 })).toEqual([]);
    expect(order.accept(data(0))?.map((f) => f.seq)).toEqual([0, 1, 2]);
  });
  it('refuses repeats and too many early frames', () => {
    const order = new InOrder();
    expect(order.accept(data(0))).toHaveLength(1);
    expect(order.accept(data(0))).toBeNull();
    for (let seq = 2; seq < 2 + TUNNEL_MAX_OUT_OF_ORDER; seq += 1) {
      expect(order.accept(data(seq))).toEqual([]);
    }
    expect(order.accept(data(2))).toBeNull();
    expect(order.accept(data(9999))).toBeNull();
    expect(order.accept(data(1))).toHaveLength(1 + TUNNEL_MAX_OUT_OF_ORDER);
  });
});

describe('node mode', () => {
  it('is tunnel for the tunnel advertise URL only', () => {
    expect(nodeModeOf(TUNNEL_ADVERTISE_URL)).toBe('tunnel');
    expect(nodeModeOf('http://10.0.0.5:8788')).toBe('direct');
  });
});
