import { describe, expect, it } from 'vitest';
import { chartFor, escapeXml, niceCeil, renderPanel } from './chart.ts';
import { level, results } from './fixtures.ts';

describe('niceCeil', () => {
  it('rounds up to 1, 2 or 5 times a power of ten', () => {
    expect(niceCeil(0.7)).toBe(1);
    expect(niceCeil(1)).toBe(1);
    expect(niceCeil(13)).toBe(20);
    expect(niceCeil(201)).toBe(500);
    expect(niceCeil(501)).toBe(1000);
    expect(niceCeil(0)).toBe(1);
  });
});

describe('escapeXml', () => {
  it('escapes markup characters', () => {
    expect(escapeXml('a<b & "c">')).toBe('a&lt;b &amp; &quot;c&quot;&gt;');
  });
});

const heights = (svg: string) =>
  [...svg.matchAll(/class="bar"[^>]* height="([\d.]+)"/g)].map((m) => Number(m[1]));

describe('renderPanel', () => {
  it('draws one bar per value, heights proportional, none for missing values', () => {
    const svg = renderPanel(
      {
        title: 'T',
        categories: ['1', '2'],
        series: [
          { name: 'a', color: '#000', values: [10, 20] },
          { name: 'b', color: '#111', values: [5, null] },
        ],
      },
      0,
    );
    const h = heights(svg);
    expect(h).toHaveLength(3);
    const [a1, b1, a2] = h;
    expect((a2 ?? 0) / (a1 ?? 1)).toBeCloseTo(2);
    expect((a1 ?? 0) / (b1 ?? 1)).toBeCloseTo(2);
  });
});

describe('chartFor', () => {
  it('makes a standalone SVG with a bar per path and streaming level in two panels', () => {
    const svg = chartFor(
      results([
        level('direct', 1),
        level('gateway', 1),
        level('direct', 64),
        level('gateway', 64),
        level('gateway', 16, { stream: false }),
      ]),
    );
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trim().endsWith('</svg>')).toBe(true);
    expect(heights(svg)).toHaveLength(8); // 2 paths x 2 levels x 2 panels
    expect(svg).toContain('64 concurrent');
    expect(svg).not.toContain('16 concurrent');
    expect(svg).toContain('>21.0</text>'); // the p50 of [20, 21, 22] on its bar
    expect(svg).toContain('(c) gateway (Node) + gpu-node');
  });
});
