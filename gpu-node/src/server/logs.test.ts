import { describe, expect, it } from 'vitest';
import { LOG_TAIL_MAX_LINES } from '../../../schema/contracts.ts';
import { HttpError } from './errors.ts';
import { fitLines, parseTail } from './logs.ts';

describe('log tail', () => {
  it('accepts what the gateway may ask for, and names the range otherwise', () => {
    expect(parseTail(null)).toBe(100);
    expect(parseTail('5001')).toBe(5001);
    expect(parseTail(String(LOG_TAIL_MAX_LINES))).toBe(10_000);
    for (const bad of ['0', '10001', '-1', '1.5', 'ten', '']) {
      expect(() => parseTail(bad)).toThrow(HttpError);
    }
    expect(() => parseTail('10001')).toThrow(/from 1 to 10000/);
  });

  it('keeps the newest lines that fit the answer size', () => {
    const lines = ['old', 'middle', 'new "quoted"'];
    const whole = JSON.stringify({ object: 'list', data: lines });
    expect(fitLines(lines, Buffer.byteLength(whole))).toEqual(lines);
    expect(fitLines(lines, Buffer.byteLength(whole) - 1)).toEqual(['middle', 'new "quoted"']);
    const newest = JSON.stringify({ object: 'list', data: ['new "quoted"'] });
    expect(fitLines(lines, Buffer.byteLength(newest))).toEqual(['new "quoted"']);
    expect(fitLines(lines, 27)).toEqual([]);
    // Multi-byte characters count as bytes.
    const wide = ['é'.repeat(10)];
    expect(fitLines(wide, 27 + 22)).toEqual(wide);
    expect(fitLines(wide, 27 + 21)).toEqual([]);
  });

  it('fits 10,000 long lines within the default size', () => {
    const lines = Array.from({ length: LOG_TAIL_MAX_LINES }, (_, i) => `${i} ${'x'.repeat(1500)}`);
    const kept = fitLines(lines);
    expect(kept.length).toBeLessThan(lines.length);
    expect(kept.at(-1)).toBe(lines.at(-1));
    expect(Buffer.byteLength(JSON.stringify({ object: 'list', data: kept }))).toBeLessThanOrEqual(
      8 * 1024 * 1024,
    );
  });
});
