import { describe, expect, it } from 'vitest';
import { parseRecipeOptions } from './recipes.ts';
import { endpointsOf, OPENAI_PATHS } from './endpoints.ts';

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

describe('where engines listen', () => {
  const hosts = ['--host', '--host=0.0.0.0', '--port', '--port=80', '--HOST', '--hos', '--po=1'];

  it('refuses --host and --port style extra_args for every recipe, naming the option', () => {
    for (const recipe of ['vllm', 'sglang', 'llamacpp'] as const) {
      const base = recipe === 'llamacpp' ? { gguf: 'm.gguf' } : {};
      for (const arg of hosts) {
        const result = parseRecipeOptions(recipe, {
          ...base,
          extra_args: ['--max-num-seqs', '8', arg, '0.0.0.0'],
        });
        expect(result.ok).toBe(false);
        if (result.ok) continue;
        expect(result.param).toBe('options.extra_args');
        expect(result.message).toContain(`'${arg}' is not allowed`);
        expect(result.message).toContain(`for recipe '${recipe}'`);
      }
    }
  });

  it('keeps other arguments, including ones that only look alike', () => {
    const args = ['--hf-token-file', 'x', '--portion', '1', '--enable-prefix-caching', '-p', '80'];
    expect(parseRecipeOptions('vllm', { extra_args: args })).toMatchObject({ ok: true });
    expect(
      parseRecipeOptions('sglang', { extra_args: ['--', '--trust-remote-code'] }),
    ).toMatchObject({ ok: true });
  });

  it('refuses the variables Ollama and llama.cpp read their listen address from', () => {
    expect(parseRecipeOptions('ollama', { env: { OLLAMA_HOST: '0.0.0.0:11434' } })).toMatchObject({
      ok: false,
      param: 'options.env.OLLAMA_HOST',
    });
    for (const name of ['LLAMA_ARG_HOST', 'LLAMA_ARG_PORT']) {
      expect(
        parseRecipeOptions('llamacpp', { gguf: 'm.gguf', env: { [name]: '1' } }),
      ).toMatchObject({ ok: false, param: `options.env.${name}` });
    }
    expect(
      parseRecipeOptions('ollama', { env: { OLLAMA_KEEP_ALIVE: '-1', OLLAMA_NUM_PARALLEL: '4' } }),
    ).toMatchObject({ ok: true });
  });
});

describe('endpointsOf', () => {
  it('says what each recipe serves: images only with omni or diffusion', () => {
    expect(endpointsOf('vllm', { omni: true })).toEqual([
      '/v1/images/generations',
      '/v1/chat/completions',
    ]);
    expect(endpointsOf('vllm', {})).toContain('/v1/audio/transcriptions');
    expect(endpointsOf('vllm', {})).toContain('/v1/rerank');
    expect(endpointsOf('vllm', {})).not.toContain('/v1/images/generations');
    expect(endpointsOf('sglang', { diffusion: true })).toEqual(['/v1/images/generations']);
    expect(endpointsOf('sglang', {})).toContain('/v1/score');
    expect(endpointsOf('ollama', {})).not.toContain('/v1/rerank');
    expect(endpointsOf('sim', {})).toEqual([...OPENAI_PATHS]);
  });
});
