import { describe, expect, it } from 'vitest';
import { NdjsonSplitter, sseEvent } from './logs-follow.ts';

describe('the log follow relay', () => {
  it('splits NDJSON records across chunks', () => {
    const s = new NdjsonSplitter(100);
    expect(s.push('{"line":"a"}\n{"li')).toEqual(['{"line":"a"}']);
    expect(s.push('ne":"b"}\n\n')).toEqual(['{"line":"b"}']);
  });

  it('refuses a record longer than its bound, finished or not', () => {
    expect(() => new NdjsonSplitter(10).push('x'.repeat(11))).toThrow(/too long/);
    expect(() => new NdjsonSplitter(10).push(`${'x'.repeat(11)}\n`)).toThrow(/too long/);
  });

  it('writes one event per line, naming the instance and node', () => {
    expect(sseEvent({ instanceId: 'inst_1', nodeId: 'node_1' }, 'a\nb')).toBe(
      'data: {"instance_id":"inst_1","node_id":"node_1","line":"a\\nb"}\n\n',
    );
  });
});
