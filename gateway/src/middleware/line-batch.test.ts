import { describe, expect, it } from 'vitest';
import { lineBatch } from './line-batch.ts';

describe('lineBatch', () => {
  it('writes the lines of one turn together, in order, each with its newline', async () => {
    const writes: string[] = [];
    const batch = lineBatch((text) => writes.push(text));
    batch.push('a');
    batch.push('{"b":1}');
    expect(writes).toEqual([]);
    await new Promise((r) => setImmediate(r));
    batch.push('c');
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['a\n{"b":1}\n', 'c\n']);
  });

  it('writes what is queued at once on flush, and nothing twice', async () => {
    const writes: string[] = [];
    const batch = lineBatch((text) => writes.push(text));
    batch.push('last');
    batch.flush();
    expect(writes).toEqual(['last\n']);
    await new Promise((r) => setImmediate(r));
    expect(writes).toEqual(['last\n']);
  });
});
