import { describe, expect, it } from 'vitest';
import { csvField, listOrNull, numberOrNull, usageCsv } from './format.ts';

describe('usage CSV', () => {
  it('quotes what needs quoting and defuses formulas', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('two\nlines')).toBe('"two\nlines"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('-1+2')).toBe("'-1+2");
    expect(csvField(-3)).toBe('-3');
    expect(csvField(null)).toBe('');
  });

  it('writes a header named for the group and one line per row', () => {
    const csv = usageCsv(
      [
        {
          group: 'team, a',
          requests: 3,
          errors: 1,
          prompt_tokens: 10,
          completion_tokens: 20,
          total_tokens: 30,
          spend_usd: 0.5,
          images: 2,
          audio_seconds: 0,
          avg_latency_ms: 12.5,
          avg_ttft_ms: null,
        },
      ],
      'key',
    );
    expect(csv).toBe(
      'key,requests,errors,prompt_tokens,completion_tokens,total_tokens,spend_usd,images,audio_seconds,avg_latency_ms,avg_ttft_ms\r\n' +
        '"team, a",3,1,10,20,30,0.5,2,0,12.5,\r\n',
    );
  });
});

describe('form fields', () => {
  it('reads model lists and optional numbers', () => {
    expect(listOrNull(' a, b ,,c ')).toEqual(['a', 'b', 'c']);
    expect(listOrNull('  ')).toBeNull();
    expect(numberOrNull('')).toBeNull();
    expect(numberOrNull(' 600 ')).toBe(600);
    expect(() => numberOrNull('ten')).toThrow(/not a number/);
  });
});
