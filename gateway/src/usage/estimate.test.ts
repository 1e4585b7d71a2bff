import { describe, expect, it } from 'vitest';
import { estimatePromptTokens } from './estimate.ts';

describe('estimatePromptTokens', () => {
  it('counts a chat prompt as characters / 4 plus 4 tokens per message', () => {
    const body = {
      messages: [
        { role: 'system', content: 'x'.repeat(40) },
        { role: 'user', content: [{ type: 'text', text: 'y'.repeat(21) }] },
      ],
    };
    // 'system' + 40 + 'user' + 'text' + 21 = 75 characters -> 19 tokens, + 2 messages * 4.
    expect(estimatePromptTokens('/v1/chat/completions', body)).toBe(27);
  });

  it('counts tool definitions and call arguments, but not image data', () => {
    const image = {
      role: 'user',
      content: [{ type: 'image_url', image_url: { url: 'data:' + 'A'.repeat(10_000) } }],
    };
    const withImage = estimatePromptTokens('/v1/chat/completions', { messages: [image] });
    expect(withImage).toBeLessThan(20);
    const tools = [
      { type: 'function', function: { name: 'f', parameters: { a: 'b'.repeat(400) } } },
    ];
    expect(estimatePromptTokens('/v1/chat/completions', { messages: [], tools })).toBeGreaterThan(
      100,
    );
  });

  it('counts completions prompts: text, lists of text, token ids exactly', () => {
    expect(estimatePromptTokens('/v1/completions', { prompt: 'abcdefgh' })).toBe(2);
    expect(estimatePromptTokens('/v1/completions', { prompt: ['abcd', 'ab'] })).toBe(2);
    expect(estimatePromptTokens('/v1/completions', { prompt: [1, 2, 3, 4, 5] })).toBe(5);
    expect(estimatePromptTokens('/v1/completions', { prompt: [[1, 2], [3]] })).toBe(3);
  });

  it('is 0 for what it cannot read', () => {
    expect(estimatePromptTokens('/v1/chat/completions', { messages: 'nope' })).toBe(0);
    expect(estimatePromptTokens('/v1/completions', { prompt: { a: 1 } })).toBe(0);
  });
});
