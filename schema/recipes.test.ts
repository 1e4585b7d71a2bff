import { describe, expect, it } from 'vitest';
import { parseRecipeOptions } from './recipes.ts';

describe('parseRecipeOptions', () => {
  it('names an unknown option in the message and in param', () => {
    const result = parseRecipeOptions('sim', { ttft: 5 });
    expect(result).toEqual({
      ok: false,
      message: "unknown option 'ttft' for recipe 'sim'",
      param: 'options.ttft',
    });
  });

  it('names a bad value by its path', () => {
    const result = parseRecipeOptions('vllm', { gpus: -1 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.param).toBe('options.gpus');
  });

  it('fills the GPU count from the recipe default', () => {
    expect(parseRecipeOptions('vllm', {})).toEqual({ ok: true, options: {}, gpus: 1 });
    expect(parseRecipeOptions('sim', { itl_ms: 2 })).toEqual({
      ok: true,
      options: { itl_ms: 2 },
      gpus: 0,
    });
  });
});
