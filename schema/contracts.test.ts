// The body-size contract between gateway and node: what the gateway forwards, re-serialised,
// never exceeds what a node accepts by default.
import { describe, expect, it } from 'vitest';
import {
  FORWARDED_BODY_EXTRA_BYTES,
  FORWARDED_BODY_GROWTH,
  GATEWAY_MAX_BODY_BYTES_CEILING,
  NODE_MAX_BODY_BYTES,
} from './contracts.ts';

// What the gateway does to a client's body before forwarding it: decode (an invalid UTF-8
// byte becomes U+FFFD), parse, ask a stream for usage, serialise.
function forwarded(clientBytes: Buffer): number {
  const body = JSON.parse(new TextDecoder().decode(clientBytes)) as Record<string, unknown>;
  const payload = { ...body, stream_options: { include_usage: true } };
  return Buffer.byteLength(JSON.stringify(payload));
}

function client(prefix: string, item: Buffer, count: number, suffix: string): Buffer {
  const items: Buffer[] = [];
  for (let i = 0; i < count; i += 1) {
    if (i > 0) items.push(Buffer.from(','));
    items.push(item);
  }
  return Buffer.concat([Buffer.from(prefix), ...items, Buffer.from(suffix)]);
}

describe('forwarded body size', () => {
  const worst = [
    // Numbers written in full: the most growth per byte.
    client('{"model":"m","stream":true,"messages":[],"x":[', Buffer.from('1e20'), 20_000, ']}'),
    client('{"model":"m","messages":[],"x":[', Buffer.from('9e20'), 1, ']}'),
    client('{"model":"m","messages":[],"x":[', Buffer.from('-1e-7'), 5000, ']}'),
    // Invalid UTF-8 inside a string: each byte becomes 3.
    client('{"model":"m","messages":[],"x":"', Buffer.from([0xff]), 50_000, '"}'),
    client('{"model":"m","messages":[],"x":"', Buffer.from([0xed, 0xa0, 0x80]), 10_000, '"}'),
    // Escapes that the serialiser writes shorter or alike.
    client('{"model":"m","messages":[],"x":"', Buffer.from('\\u0000\\ud800\\/'), 5000, '"}'),
  ];

  it('grows by at most the contract factor', () => {
    for (const body of worst) {
      const out = forwarded(body);
      expect(out).toBeLessThanOrEqual(
        body.length * FORWARDED_BODY_GROWTH + FORWARDED_BODY_EXTRA_BYTES,
      );
    }
    // The bound is tight: long runs of 1e20 come within 1% of it.
    const first = worst[0] ?? Buffer.alloc(0);
    expect(forwarded(first) / first.length).toBeGreaterThan(FORWARDED_BODY_GROWTH * 0.99);
  });

  it('fits a node at the largest body the gateway accepts', () => {
    expect(NODE_MAX_BODY_BYTES).toBeGreaterThanOrEqual(
      GATEWAY_MAX_BODY_BYTES_CEILING * FORWARDED_BODY_GROWTH + FORWARDED_BODY_EXTRA_BYTES,
    );
  });
});
