import { describe, expect, it } from 'vitest';
import { analyzePrompt, analyzeTokenIds, BLOCK_SIZE, countTokens, tokenize } from './tokenizer.ts';
import { generateText, tokenJson, tokenText } from './vocabulary.ts';

describe('tokenizer', () => {
  it('splits words, long words, digit runs and punctuation', () => {
    expect(tokenize('Hello, world!')).toEqual(['Hello', ',', 'world', '!']);
    expect(tokenize('internationalization')).toEqual(['internat', 'ionaliza', 'tion']);
    expect(tokenize('12345')).toEqual(['123', '45']);
    expect(tokenize('  \n\t ')).toEqual([]);
    expect(countTokens('naïve café — ok')).toBe(4);
  });

  it('counts what analyzePrompt counts', () => {
    const text = 'The quick brown fox jumps over the lazy dog. '.repeat(9);
    expect(analyzePrompt(text).tokens).toBe(countTokens(text));
    expect(countTokens(text)).toBe(90);
  });

  it('hashes full blocks only, as a chain over the whole prefix', () => {
    const words = (n: number, w = 'word'): string =>
      Array.from({ length: n }, (_, i) => `${w}${String.fromCharCode(97 + (i % 26))}`).join(' ');
    const a = analyzePrompt(words(40));
    expect(a.blockHashes).toHaveLength(Math.floor(40 / BLOCK_SIZE));

    // Same first block, different second block: the first hash agrees, the second differs.
    const b = analyzePrompt(`${words(16)} ${words(24, 'other')}`);
    expect(b.blockHashes[0]).toBe(a.blockHashes[0]);
    expect(b.blockHashes[1]).not.toBe(a.blockHashes[1]);

    // Same second block after a different first one: still a different hash (a chain).
    const c = analyzePrompt(`${words(16, 'first')} ${words(24)}`);
    const d = analyzePrompt(`${words(16, 'other')} ${words(24)}`);
    expect(c.blockHashes[1]).not.toBe(d.blockHashes[1]);
  });

  it('tells apart token boundaries, not just characters', () => {
    const one = analyzePrompt('ab c '.repeat(8));
    const two = analyzePrompt('a bc '.repeat(8));
    expect(one.blockHashes).toHaveLength(1);
    expect(one.blockHashes[0]).not.toBe(two.blockHashes[0]);
  });

  it('treats token-id prompts one token per id', () => {
    const ids = Array.from({ length: 35 }, (_, i) => i * 1000);
    const r = analyzeTokenIds(ids);
    expect(r.tokens).toBe(35);
    expect(r.blockHashes).toHaveLength(2);
    expect(analyzeTokenIds(ids.slice(0, 16)).blockHashes[0]).toBe(r.blockHashes[0]);
  });
});

describe('vocabulary', () => {
  it('generates text whose token count is the number of generated tokens', () => {
    for (const seed of [1, 2, 3, 99]) {
      for (const n of [1, 7, 50, 300]) {
        expect(countTokens(generateText(seed, n))).toBe(n);
      }
    }
  });

  it('is a pure function of seed and index', () => {
    expect(generateText(5, 40)).toBe(generateText(5, 40));
    expect(generateText(5, 40)).not.toBe(generateText(6, 40));
    expect(generateText(5, 40).startsWith(generateText(5, 10))).toBe(true);
    expect(tokenText(5, 0)).toMatch(/^[A-Z][a-z]*$/);
  });

  it('keeps JSON-escaped tokens equal to the tokens', () => {
    for (let i = 0; i < 200; i++) {
      expect(JSON.parse(`"${tokenJson(11, i)}"`)).toBe(tokenText(11, i));
    }
  });
});
