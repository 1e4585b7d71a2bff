// The docker runtime's pure parts: create options, labels back to a status, log frames
// and pull progress. The runtime against a real Engine is tested in test/docker.
import { describe, expect, it } from 'vitest';
import type { EngineSpec } from '../types.ts';
import { createLogLineDecoder, demuxFrames, logLines } from './logs.ts';
import { PullTracker, pullLogLine } from './pull.ts';
import { containerSpec, exitCodeFromStatusText, sameSpec, statusOf } from './spec.ts';

const spec: EngineSpec = {
  instanceId: 'i1',
  deploymentId: 'd1',
  nodeId: 'n1',
  model: 'llama',
  image: 'vllm/vllm-openai:v0.11.0',
  entrypoint: ['python3', '-m', 'vllm.entrypoints.openai.api_server'],
  command: ['--model', 'meta/llama', '--port', '8001'],
  env: { HF_HOME: '/root/.cache/huggingface', A: 'b=c' },
  port: 8001,
  healthPath: '/health',
  gpuIndices: [2, 3],
  shmSizeBytes: 16 * 1024 ** 3,
  volumes: [{ source: 'fleetgate-models', target: '/root/.cache/huggingface' }],
  stopGraceSeconds: 30,
  labels: { 'dev.fleetgate.spec-hash': 'h1', 'dev.fleetgate.node-id': 'spoofed' },
};

function frame(stream: number, text: string): Buffer {
  const payload = Buffer.from(text);
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe('containerSpec', () => {
  it('maps an engine spec to create options', () => {
    expect(containerSpec(spec)).toEqual({
      name: 'fleetgate-i1',
      Image: 'vllm/vllm-openai:v0.11.0',
      Entrypoint: ['python3', '-m', 'vllm.entrypoints.openai.api_server'],
      Cmd: ['--model', 'meta/llama', '--port', '8001'],
      Env: ['HF_HOME=/root/.cache/huggingface', 'A=b=c'],
      Labels: {
        'dev.fleetgate.spec-hash': 'h1',
        // The runtime's own labels win over a spec's.
        'dev.fleetgate.node-id': 'n1',
        'dev.fleetgate.managed': 'true',
        'dev.fleetgate.deployment-id': 'd1',
        'dev.fleetgate.instance-id': 'i1',
        'dev.fleetgate.model': 'llama',
        'dev.fleetgate.port': '8001',
        'dev.fleetgate.gpus': '2,3',
      },
      Tty: false,
      StopTimeout: 30,
      HostConfig: {
        NetworkMode: 'host',
        Mounts: [
          {
            Type: 'volume',
            Source: 'fleetgate-models',
            Target: '/root/.cache/huggingface',
            ReadOnly: false,
          },
        ],
        RestartPolicy: { Name: 'no' },
        LogConfig: { Type: 'json-file', Config: { 'max-size': '50m', 'max-file': '3' } },
        DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['2', '3'], Capabilities: [['gpu']] }],
        ShmSize: 16 * 1024 ** 3,
      },
    });
  });

  it('requests no GPUs without GPU indices, bind-mounts host paths, and needs an image', () => {
    const cpu = containerSpec({
      ...spec,
      gpuIndices: [],
      volumes: [{ source: '/var/cache/models', target: '/models', readOnly: true }],
    });
    expect(cpu.HostConfig?.DeviceRequests).toBeUndefined();
    expect(cpu.HostConfig?.Mounts).toEqual([
      { Type: 'bind', Source: '/var/cache/models', Target: '/models', ReadOnly: true },
    ]);
    expect(() => containerSpec({ ...spec, image: undefined })).toThrow(/needs an image/);
  });
});

describe('statusOf', () => {
  it('reads port, GPUs and ids back from the labels', () => {
    const labels = containerSpec(spec).Labels ?? {};
    expect(statusOf({ id: 'c1', labels, running: true, exitCode: 0 })).toEqual({
      handle: 'c1',
      instanceId: 'i1',
      deploymentId: 'd1',
      state: 'running',
      port: 8001,
      gpuIndices: [2, 3],
      labels,
    });
    expect(statusOf({ id: 'c1', labels: {}, running: false, exitCode: 137 })).toEqual({
      handle: 'c1',
      instanceId: '',
      deploymentId: '',
      state: 'exited',
      exitCode: 137,
      gpuIndices: [],
      labels: {},
    });
    expect(exitCodeFromStatusText('Exited (137) 2 minutes ago')).toBe(137);
    expect(exitCodeFromStatusText('Up 3 seconds')).toBeUndefined();
  });

  it('adopts only a container made from the same image and daemon labels', () => {
    const labels = containerSpec(spec).Labels ?? {};
    expect(sameSpec(spec, labels, 'vllm/vllm-openai:v0.11.0')).toBe(true);
    expect(sameSpec(spec, labels, 'vllm/vllm-openai:v0.10.0')).toBe(false);
    expect(sameSpec({ ...spec, port: 9000 }, labels, spec.image ?? '')).toBe(true);
    expect(sameSpec({ ...spec, gpuIndices: [0] }, labels, spec.image ?? '')).toBe(false);
    expect(sameSpec(spec, { ...labels, 'dev.fleetgate.spec-hash': 'h2' }, spec.image ?? '')).toBe(
      false,
    );
  });
});

describe('log frames', () => {
  it('demultiplexes stdout and stderr frames and keeps the last lines', () => {
    const buf = Buffer.concat([
      frame(1, 'INFO starting\nINFO loading '),
      frame(2, 'weights\r\nWARN slow disk\n'),
      frame(1, 'INFO ready\n'),
    ]);
    expect(demuxFrames(buf).map((f) => f.stream)).toEqual(['stdout', 'stderr', 'stdout']);
    expect(logLines(buf, 10)).toEqual([
      'INFO starting',
      'INFO loading weights',
      'WARN slow disk',
      'INFO ready',
    ]);
    expect(logLines(buf, 2)).toEqual(['WARN slow disk', 'INFO ready']);
    expect(logLines(buf, 0)).toEqual([]);
  });

  it('keeps a truncated last frame and reads raw (TTY) output as text', () => {
    const whole = frame(1, 'abc\ndef\n');
    expect(logLines(whole.subarray(0, whole.length - 2), 5)).toEqual(['abc', 'de']);
    expect(logLines(Buffer.from('plain line\nsecond\n'), 5)).toEqual(['plain line', 'second']);
    expect(logLines(Buffer.alloc(0), 5)).toEqual([]);
  });
});

describe('pull progress', () => {
  it('sums layer bytes into one progress figure', () => {
    const t = new PullTracker();
    expect(t.update({ status: 'Pulling from vllm/vllm-openai', id: 'v0.11.0' })).toBeUndefined();
    expect(t.update({ status: 'Pulling fs layer', id: 'a' })).toBeUndefined();
    expect(t.update({ status: 'Already exists', id: 'b' })).toMatchObject({ bytes: 0 });
    expect(
      t.update({ status: 'Downloading', id: 'a', progressDetail: { current: 50, total: 200 } }),
    ).toEqual({ bytes: 50, totalBytes: 200, percent: 25 });
    expect(
      t.update({ status: 'Downloading', id: 'c', progressDetail: { current: 100, total: 200 } }),
    ).toEqual({ bytes: 150, totalBytes: 400, percent: 37.5 });
    expect(t.update({ status: 'Download complete', id: 'a' })).toEqual({
      bytes: 300,
      totalBytes: 400,
      percent: 75,
    });
    // Layer b's size is unknown ("Already exists"), so the figure stops short of 100.
    expect(t.update({ status: 'Pull complete', id: 'c' })).toEqual({
      bytes: 400,
      totalBytes: 400,
      percent: 99,
    });
    expect(pullLogLine('img', { status: 'Downloading', id: 'a' })).toBeUndefined();
    expect(pullLogLine('img', { status: 'Pull complete', id: 'a' })).toBe(
      'pull img: a: Pull complete',
    );
  });
});

describe('followed Docker logs', () => {
  const frame = (stream: number, text: string) => {
    const payload = Buffer.from(text);
    const header = Buffer.alloc(8);
    header[0] = stream;
    header.writeUInt32BE(payload.length, 4);
    return Buffer.concat([header, payload]);
  };

  it('turns frames cut anywhere back into lines, per stream, and cuts long lines', () => {
    const lines: string[] = [];
    const decoder = createLogLineDecoder((l) => lines.push(l), 8);
    const all = Buffer.concat([frame(1, 'out 1\nou'), frame(2, 'err 1\n'), frame(1, 't 2\r\n')]);
    for (let i = 0; i < all.length; i += 3) decoder.push(all.subarray(i, i + 3));
    decoder.push(frame(1, 'x'.repeat(20)));
    decoder.end();
    expect(lines).toEqual(['out 1', 'err 1', 'out 2', 'x'.repeat(8)]);
  });
});
