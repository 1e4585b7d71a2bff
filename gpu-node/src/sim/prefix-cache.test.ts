import { describe, expect, it } from 'vitest';
import { cachedPromptTokens, PrefixCache, uncachedPromptTokens } from './prefix-cache.ts';
import { analyzePrompt, BLOCK_SIZE } from './tokenizer.ts';

const prompt = (tag: string, words: number): string =>
  Array.from({ length: words }, (_, i) => `${tag}${String.fromCharCode(97 + (i % 26))}`).join(' ');

describe('prefix cache arithmetic', () => {
  it('serves whole blocks and always leaves one token to compute', () => {
    expect(cachedPromptTokens(100, 0, 16)).toBe(0);
    expect(cachedPromptTokens(100, 3, 16)).toBe(48);
    expect(cachedPromptTokens(64, 4, 16)).toBe(63);
    expect(uncachedPromptTokens(64, 4, 16)).toBe(1);
    expect(uncachedPromptTokens(100, 0, 16)).toBe(100);
    expect(cachedPromptTokens(0, 0, 16)).toBe(0);
  });
});

describe('PrefixCache', () => {
  it('makes a repeated prompt cheaper to prefill', () => {
    const cache = new PrefixCache(1024, BLOCK_SIZE);
    const p = analyzePrompt(prompt('w', 100));
    const first = cache.match(p.blockHashes);
    cache.insert(p.blockHashes);
    const second = cache.match(p.blockHashes);
    expect(first).toBe(0);
    expect(second).toBe(6);
    expect(uncachedPromptTokens(p.tokens, second, BLOCK_SIZE)).toBeLessThan(
      uncachedPromptTokens(p.tokens, first, BLOCK_SIZE),
    );
    expect(uncachedPromptTokens(p.tokens, second, BLOCK_SIZE)).toBe(100 - 96);
  });

  it('reuses a shared prefix up to the first differing block', () => {
    const cache = new PrefixCache(1024, BLOCK_SIZE);
    const system = prompt('sys', 48);
    cache.insert(analyzePrompt(`${system} ${prompt('one', 40)}`).blockHashes);
    expect(cache.match(analyzePrompt(`${system} ${prompt('two', 40)}`).blockHashes)).toBe(3);
  });

  it('holds at most its capacity and evicts the least recently used prompt', () => {
    const cache = new PrefixCache(4 * BLOCK_SIZE, BLOCK_SIZE);
    expect(cache.capacityBlocks).toBe(4);
    const a = analyzePrompt(prompt('a', 32)).blockHashes;
    const b = analyzePrompt(prompt('b', 32)).blockHashes;
    const c = analyzePrompt(prompt('c', 32)).blockHashes;
    cache.insert(a);
    cache.insert(b);
    cache.match(a); // a is now more recent than b
    cache.insert(c);
    expect(cache.size).toBe(4);
    expect(cache.match(a)).toBe(2);
    expect(cache.match(b)).toBe(0);
    expect(cache.match(c)).toBe(2);
  });

  it('evicts a prompt tail before its head, so a shorter prefix survives', () => {
    const cache = new PrefixCache(4 * BLOCK_SIZE, BLOCK_SIZE);
    const long = analyzePrompt(prompt('l', 64)).blockHashes;
    cache.insert(long);
    cache.insert(analyzePrompt(prompt('x', 16)).blockHashes);
    expect(cache.match(long)).toBe(3);
  });

  it('keeps only the head of a prompt longer than the whole cache', () => {
    const cache = new PrefixCache(2 * BLOCK_SIZE, BLOCK_SIZE);
    const long = analyzePrompt(prompt('l', 80)).blockHashes;
    cache.insert(long);
    expect(cache.size).toBe(2);
    expect(cache.match(long)).toBe(2);
  });

  it('caches nothing at zero capacity', () => {
    const cache = new PrefixCache(0, BLOCK_SIZE);
    const p = analyzePrompt(prompt('z', 64)).blockHashes;
    cache.insert(p);
    expect(cache.match(p)).toBe(0);
    expect(cache.size).toBe(0);
  });
});
