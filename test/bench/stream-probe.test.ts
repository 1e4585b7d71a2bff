import { describe, expect, it } from 'vitest';
import { StreamProbe } from './stream-probe.ts';

const chunk = (content: string | undefined, extra: object = {}) =>
  `data: ${JSON.stringify({ id: 'c1', choices: [{ index: 0, delta: content === undefined ? { role: 'assistant' } : { content } }], ...extra })}\n\n`;

describe('StreamProbe', () => {
  it('marks the first content chunk, not the role-only chunk before it', () => {
    const probe = new StreamProbe();
    expect(probe.push(chunk(undefined))).toBe(false);
    expect(probe.push(chunk(''))).toBe(false);
    expect(probe.push(chunk('Hel'))).toBe(true);
    expect(probe.push(chunk('lo'))).toBe(false);
    expect(probe.push('data: [DONE]\n\n')).toBe(false);
    expect(probe.contentChunks).toBe(2);
    expect(probe.done).toBe(true);
    expect(probe.error).toBeUndefined();
  });

  it('reassembles events split across reads and CRLF line ends', () => {
    const body = (chunk('a') + chunk('b') + 'data: [DONE]\n\n').replaceAll('\n', '\r\n');
    const probe = new StreamProbe();
    const firsts: boolean[] = [];
    for (let i = 0; i < body.length; i += 7) firsts.push(probe.push(body.slice(i, i + 7)));
    expect(firsts.filter(Boolean)).toHaveLength(1);
    expect(probe.contentChunks).toBe(2);
    expect(probe.done).toBe(true);
  });

  it('does not count a usage-only chunk and ignores comments', () => {
    const probe = new StreamProbe();
    probe.push(': keep-alive\n\n');
    probe.push(`data: ${JSON.stringify({ choices: [], usage: { total_tokens: 3 } })}\n\n`);
    expect(probe.contentChunks).toBe(0);
  });

  it('records an error event and an unparsable event', () => {
    const probe = new StreamProbe();
    probe.push('data: {"error":{"message":"boom","type":"server_error"}}\n\n');
    expect(probe.error).toContain('boom');
    const other = new StreamProbe();
    other.push('data: {not json\n\n');
    expect(other.error).toMatch(/unparsable/);
  });
});
