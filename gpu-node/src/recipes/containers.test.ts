// The exact containers the real engine recipes ask Docker for, and their option checks.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { containerSpec } from '../runtimes/docker/spec.ts';
import { shmSizeBytes } from './container.ts';
import { llamacppRecipe } from './llamacpp.ts';
import { ollamaRecipe } from './ollama.ts';
import { sglangRecipe } from './sglang.ts';
import { RecipeOptionsError, type Recipe, type RecipeContext } from './types.ts';
import { vllmRecipe } from './vllm.ts';

const GiB = 1024 ** 3;

function ctx(gpuIndices: number[], model = 'llama-3.1-8b'): RecipeContext {
  return {
    nodeId: 'n1',
    instanceId: 'i1',
    deploymentId: 'd1',
    model,
    gpuIndices,
    port: 41000,
    modelCache: 'fleetgate-models',
  };
}

function create(recipe: Recipe, raw: unknown, c: RecipeContext, gpusOnNode = 8) {
  const { options } = recipe.parse(raw, gpusOnNode);
  const spec = recipe.spec(options, c);
  return { spec, create: containerSpec(spec) };
}

function gpuRequest(ids: string[]) {
  return [{ Driver: 'nvidia', DeviceIDs: ids, Capabilities: [['gpu']] }];
}

describe('vllm recipe', () => {
  it('runs the OpenAI server with tensor parallelism over the given GPUs', () => {
    const saved = process.env.HF_TOKEN;
    process.env.HF_TOKEN = 'hf_secret';
    try {
      const { spec, create: c } = create(
        vllmRecipe,
        {
          model: 'meta-llama/Llama-3.1-8B-Instruct',
          gpus: 2,
          max_model_len: 8192,
          dtype: 'bfloat16',
          gpu_memory_utilization: 0.9,
          quantization: 'fp8',
          trust_remote_code: true,
          env: { VLLM_LOGGING_LEVEL: 'DEBUG' },
          extra_args: ['--enable-prefix-caching'],
        },
        ctx([1, 3]),
      );
      expect(spec).toMatchObject({ port: 41000, healthPath: '/health', metricsPath: '/metrics' });
      expect(c.Image).toBe('vllm/vllm-openai:v0.11.0');
      expect(c.Entrypoint).toEqual(['python3', '-m', 'vllm.entrypoints.openai.api_server']);
      expect(c.Cmd).toEqual([
        '--model',
        'meta-llama/Llama-3.1-8B-Instruct',
        '--served-model-name',
        'llama-3.1-8b',
        '--host',
        '127.0.0.1',
        '--port',
        '41000',
        '--tensor-parallel-size',
        '2',
        '--max-model-len',
        '8192',
        '--dtype',
        'bfloat16',
        '--gpu-memory-utilization',
        '0.9',
        '--quantization',
        'fp8',
        '--trust-remote-code',
        '--enable-prefix-caching',
      ]);
      expect(c.Env).toEqual([
        'HF_HOME=/root/.cache/huggingface',
        'HF_TOKEN=hf_secret',
        'VLLM_LOGGING_LEVEL=DEBUG',
      ]);
      expect(c.HostConfig).toMatchObject({
        NetworkMode: 'host',
        DeviceRequests: gpuRequest(['1', '3']),
        ShmSize: 16 * GiB,
        Mounts: [
          {
            Type: 'volume',
            Source: 'fleetgate-models',
            Target: '/root/.cache/huggingface',
            ReadOnly: false,
          },
        ],
      });
    } finally {
      if (saved === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = saved;
    }
  });

  it('defaults the model to the deployment name, and takes an image, port and shm size', () => {
    const saved = process.env.HF_TOKEN;
    delete process.env.HF_TOKEN;
    try {
      const { spec, create: c } = create(
        vllmRecipe,
        { image: 'registry.local/vllm:dev', port: 8000, shm_size: '2g' },
        ctx([0], 'Qwen/Qwen2.5-0.5B-Instruct'),
      );
      expect(spec.port).toBe(8000);
      expect(c.Image).toBe('registry.local/vllm:dev');
      expect(c.Cmd).toEqual([
        '--model',
        'Qwen/Qwen2.5-0.5B-Instruct',
        '--served-model-name',
        'Qwen/Qwen2.5-0.5B-Instruct',
        '--host',
        '127.0.0.1',
        '--port',
        '8000',
        '--tensor-parallel-size',
        '1',
      ]);
      expect(c.Env).toEqual(['HF_HOME=/root/.cache/huggingface']);
      expect(c.HostConfig?.ShmSize).toBe(2 * GiB);
      expect(c.HostConfig?.DeviceRequests).toEqual(gpuRequest(['0']));
    } finally {
      if (saved !== undefined) process.env.HF_TOKEN = saved;
    }
  });

  it('rejects unknown options and more GPUs than the node has', () => {
    expect(() => vllmRecipe.parse({ max_model_length: 4096 }, 1)).toThrow(
      /unknown option 'max_model_length'/,
    );
    let caught: unknown;
    try {
      vllmRecipe.parse({ gpus: 4 }, 2);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RecipeOptionsError);
    expect((caught as RecipeOptionsError).message).toMatch(/4 GPU.*this node has 2/);
    expect((caught as RecipeOptionsError).param).toBe('options.gpus');
    // vLLM needs a GPU by default.
    expect(() => vllmRecipe.parse({}, 0)).toThrow(/this node has 0/);
    expect(vllmRecipe.parse({}, 1).gpus).toBe(1);
    expect(() => vllmRecipe.parse({ dtype: 'int3' }, 1)).toThrow(/'dtype'/);
  });
});

describe('vllm recipe with the omni option', () => {
  it('starts vLLM-Omni as `vllm serve <model> --omni` in its own image', () => {
    const { spec, create: c } = create(
      vllmRecipe,
      { model: 'Qwen/Qwen-Image', omni: true, gpus: 1 },
      ctx([2], 'qwen-image'),
    );
    expect(spec).toMatchObject({ port: 41000, healthPath: '/health' });
    expect(c.Image).toBe('vllm/vllm-omni:v0.14.0');
    expect(c.Entrypoint).toEqual(['vllm', 'serve']);
    expect(c.Cmd).toEqual([
      'Qwen/Qwen-Image',
      '--omni',
      '--served-model-name',
      'qwen-image',
      '--host',
      '127.0.0.1',
      '--port',
      '41000',
      '--tensor-parallel-size',
      '1',
    ]);
    const image = create(vllmRecipe, { omni: true, image: 'my/omni:1' }, ctx([0])).create;
    expect(image.Image).toBe('my/omni:1');
    expect(image.Cmd?.slice(0, 2)).toEqual(['llama-3.1-8b', '--omni']);
    expect(() => vllmRecipe.parse({ omni: 1 }, 8)).toThrow(/omni/);
  });
});

describe('sglang recipe', () => {
  it('launches the server with tp size, metrics and its options', () => {
    const { spec, create: c } = create(
      sglangRecipe,
      {
        model: 'Qwen/Qwen2.5-7B-Instruct',
        gpus: 4,
        context_length: 32768,
        mem_fraction_static: 0.85,
        trust_remote_code: true,
        extra_args: ['--enable-torch-compile'],
      },
      ctx([4, 5, 6, 7], 'qwen-7b'),
    );
    expect(spec).toMatchObject({ healthPath: '/health', metricsPath: '/metrics' });
    expect(c.Image).toBe('lmsysorg/sglang:v0.5.3');
    expect(c.Entrypoint).toBeUndefined();
    expect(c.Cmd).toEqual([
      'python3',
      '-m',
      'sglang.launch_server',
      '--model-path',
      'Qwen/Qwen2.5-7B-Instruct',
      '--served-model-name',
      'qwen-7b',
      '--host',
      '127.0.0.1',
      '--port',
      '41000',
      '--tp-size',
      '4',
      '--enable-metrics',
      '--context-length',
      '32768',
      '--mem-fraction-static',
      '0.85',
      '--trust-remote-code',
      '--enable-torch-compile',
    ]);
    expect(c.HostConfig).toMatchObject({
      NetworkMode: 'host',
      DeviceRequests: gpuRequest(['4', '5', '6', '7']),
      ShmSize: 16 * GiB,
      Mounts: [expect.objectContaining({ Target: '/root/.cache/huggingface' })],
    });
    expect(() => sglangRecipe.parse({ tp_size: 2 }, 8)).toThrow(/unknown option 'tp_size'/);
  });

  it('serves a diffusion model with `sglang serve --model-path` (diffusion option)', () => {
    const { spec, create: c } = create(
      sglangRecipe,
      {
        model: 'black-forest-labs/FLUX.1-dev',
        gpus: 2,
        diffusion: true,
        extra_args: ['--enable-cfg-parallel'],
      },
      ctx([0, 1], 'flux'),
    );
    expect(spec.healthPath).toBe('/health');
    // No Prometheus metrics to scrape.
    expect(spec.metricsPath).toBeUndefined();
    expect(c.Image).toBe('lmsysorg/sglang:v0.5.3');
    expect(c.Cmd).toEqual([
      'sglang',
      'serve',
      '--model-path',
      'black-forest-labs/FLUX.1-dev',
      '--host',
      '127.0.0.1',
      '--port',
      '41000',
      '--num-gpus',
      '2',
      '--enable-cfg-parallel',
    ]);
    expect(c.HostConfig).toMatchObject({ DeviceRequests: gpuRequest(['0', '1']) });
    expect(() => sglangRecipe.parse({ diffusion: 'yes' }, 8)).toThrow(/diffusion/);
  });
});

describe('ollama recipe', () => {
  it('serves on the chosen port with the model store in the shared cache', () => {
    const { spec, create: c } = create(ollamaRecipe, { model: 'llama3.2:1b' }, ctx([]), 0);
    expect(spec).toMatchObject({ port: 41000, healthPath: '/api/version' });
    expect(spec.metricsPath).toBeUndefined();
    expect(c.Image).toBe('ollama/ollama:0.12.3');
    expect(c.Cmd).toEqual(['serve']);
    expect(c.Env).toEqual(['OLLAMA_HOST=127.0.0.1:41000']);
    expect(c.HostConfig?.DeviceRequests).toBeUndefined();
    expect(c.HostConfig?.ShmSize).toBeUndefined();
    expect(c.HostConfig?.Mounts).toEqual([
      { Type: 'volume', Source: 'fleetgate-models', Target: '/root/.ollama', ReadOnly: false },
    ]);

    const gpu = create(ollamaRecipe, { gpus: 1, port: 11434 }, ctx([2]), 4).create;
    expect(gpu.Env).toEqual(['OLLAMA_HOST=127.0.0.1:11434']);
    expect(gpu.HostConfig?.DeviceRequests).toEqual(gpuRequest(['2']));
    expect(() => ollamaRecipe.parse({ gpus: 1 }, 0)).toThrow(/this node has 0/);
    expect(() => ollamaRecipe.parse({ tag: 'x' }, 0)).toThrow(/unknown option 'tag'/);
  });

  describe('prepare', () => {
    let server: Server | undefined;
    afterEach(async () => {
      await new Promise((r) => server?.close(r) ?? r(undefined));
      server = undefined;
    });

    // A stand-in for Ollama's model API on a real local port.
    async function fakeOllama(
      answer: (path: string, body: unknown) => [number, unknown],
    ): Promise<{ url: string; calls: [string, unknown][] }> {
      const calls: [string, unknown][] = [];
      server = createServer((req, res) => {
        let data = '';
        req.on('data', (c: Buffer) => (data += c.toString()));
        req.on('end', () => {
          const body: unknown = JSON.parse(data);
          calls.push([`${req.method ?? ''} ${req.url ?? ''}`, body]);
          const [status, json] = answer(req.url ?? '', body);
          res.writeHead(status, { 'content-type': 'application/json' });
          res.end(JSON.stringify(json));
        });
      });
      await new Promise<void>((r) => server?.listen(0, '127.0.0.1', r));
      const { port } = server.address() as AddressInfo;
      return { url: `http://127.0.0.1:${port}`, calls };
    }

    it('pulls the tag, and aliases it to the deployment model when they differ', async () => {
      const ollama = await fakeOllama(() => [200, { status: 'success' }]);
      const signal = new AbortController().signal;
      expect(typeof ollamaRecipe.prepare).toBe('function');
      await ollamaRecipe.prepare?.(
        ollama.url,
        { model: 'llama3.2:1b' },
        ctx([], 'small-llama'),
        signal,
      );
      expect(ollama.calls).toEqual([
        ['POST /api/pull', { model: 'llama3.2:1b', stream: false }],
        ['POST /api/copy', { source: 'llama3.2:1b', destination: 'small-llama' }],
      ]);
      ollama.calls.length = 0;
      await ollamaRecipe.prepare?.(ollama.url, {}, ctx([], 'llama3.2:1b'), signal);
      expect(ollama.calls).toEqual([['POST /api/pull', { model: 'llama3.2:1b', stream: false }]]);
    });

    it("fails with Ollama's own error", async () => {
      const ollama = await fakeOllama(() => [
        500,
        { error: 'pull model manifest: file does not exist' },
      ]);
      await expect(
        ollamaRecipe.prepare?.(
          ollama.url,
          { model: 'nope:1b' },
          ctx([]),
          new AbortController().signal,
        ),
      ).rejects.toThrow('ollama /api/pull answered 500: pull model manifest: file does not exist');
    });
  });
});

describe('llamacpp recipe', () => {
  it('serves a GGUF from the cache on the GPUs, all layers offloaded by default', () => {
    const { spec, create: c } = create(
      llamacppRecipe,
      { gguf: 'qwen2.5-0.5b-instruct-q4_k_m.gguf', gpus: 1, ctx_size: 4096, parallel: 4 },
      ctx([0], 'qwen-small'),
    );
    expect(spec).toMatchObject({ healthPath: '/health', metricsPath: '/metrics' });
    expect(c.Image).toBe('ghcr.io/ggml-org/llama.cpp:server-cuda');
    expect(c.Cmd).toEqual([
      '--host',
      '127.0.0.1',
      '--port',
      '41000',
      '--alias',
      'qwen-small',
      '--metrics',
      '-m',
      '/models/qwen2.5-0.5b-instruct-q4_k_m.gguf',
      '-c',
      '4096',
      '-ngl',
      '999',
      '-np',
      '4',
    ]);
    expect(c.Env).toEqual(['LLAMA_CACHE=/models']);
    expect(c.HostConfig).toMatchObject({
      DeviceRequests: gpuRequest(['0']),
      Mounts: [{ Type: 'volume', Source: 'fleetgate-models', Target: '/models', ReadOnly: false }],
    });
  });

  it('downloads a URL on a CPU node with the CPU image', () => {
    const url = 'https://huggingface.co/org/repo/resolve/main/model.gguf';
    const { create: c } = create(
      llamacppRecipe,
      { gguf: url, extra_args: ['--jinja'] },
      ctx([]),
      0,
    );
    expect(c.Image).toBe('ghcr.io/ggml-org/llama.cpp:server');
    expect(c.Cmd).toEqual([
      '--host',
      '127.0.0.1',
      '--port',
      '41000',
      '--alias',
      'llama-3.1-8b',
      '--metrics',
      '--model-url',
      url,
      '--jinja',
    ]);
    expect(c.HostConfig?.DeviceRequests).toBeUndefined();
  });

  it('requires a GGUF inside the cache or a URL', () => {
    expect(() => llamacppRecipe.parse({}, 0)).toThrow(/'gguf'/);
    expect(() => llamacppRecipe.parse({ gguf: '/etc/passwd' }, 0)).toThrow(RecipeOptionsError);
    expect(() => llamacppRecipe.parse({ gguf: 'a/../../etc/passwd' }, 0)).toThrow(/'gguf'/);
    expect(() => llamacppRecipe.parse({ gguf: 'm.gguf', gpus: 2 }, 1)).toThrow(/this node has 1/);
  });
});

describe('shm sizes', () => {
  it("reads Docker's notation", () => {
    expect(shmSizeBytes('16g')).toBe(16 * GiB);
    expect(shmSizeBytes('512m')).toBe(512 * 1024 ** 2);
    expect(shmSizeBytes('1.5G')).toBe(1.5 * GiB);
    expect(shmSizeBytes('1000')).toBe(1000);
    expect(shmSizeBytes(4096)).toBe(4096);
    expect(() => shmSizeBytes('lots')).toThrow(/invalid shm size/);
  });
});
