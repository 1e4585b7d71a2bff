import { describe, expect, it } from 'vitest';
import { SseDecoder, parseLogEvent } from './sse-lines.ts';

describe('SseDecoder', () => {
  it('answers the data of complete events, across chunk boundaries', () => {
    const d = new SseDecoder();
    expect(d.push('data: {"line":"a"}\n')).toEqual([]);
    expect(d.push('\ndata: {"li')).toEqual(['{"line":"a"}']);
    expect(d.push('ne":"b"}\r\n\r\n: comment\nevent: x\ndata:c\ndata: d\n\n')).toEqual([
      '{"line":"b"}',
      'c\nd',
    ]);
  });

  it('waits for the \\n after a \\r at the end of a chunk', () => {
    const d = new SseDecoder();
    expect(d.push('data: x\r')).toEqual([]);
    expect(d.push('\n\r\n')).toEqual(['x']);
  });
});

describe('parseLogEvent', () => {
  it('keeps events with a line and drops anything else', () => {
    expect(parseLogEvent('{"instance_id":"i","node_id":"n","line":"hello"}')).toEqual({
      instance_id: 'i',
      node_id: 'n',
      line: 'hello',
    });
    expect(parseLogEvent('{"line":5}')).toBeNull();
    expect(parseLogEvent('not json')).toBeNull();
  });
});
