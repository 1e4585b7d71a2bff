import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LineRing, ProcessRuntime } from './process.ts';
import type { EngineSpec } from './types.ts';

let dir: string;
const runtime = new ProcessRuntime({ logLines: 50 });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleetgate-proc-'));
});
afterAll(async () => {
  runtime.killAllSync();
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, source: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, source);
  return path;
}

function spec(command: string[], extra: Partial<EngineSpec> = {}): EngineSpec {
  return {
    instanceId: `inst-${Math.random().toString(36).slice(2)}`,
    deploymentId: 'dep-1',
    nodeId: 'node-1',
    model: 'm',
    command,
    env: {},
    port: 1234,
    healthPath: '/health',
    gpuIndices: [],
    ...extra,
  };
}

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 25));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('LineRing', () => {
  it('keeps the last lines in order', () => {
    const ring = new LineRing(3);
    for (const l of ['a', 'b', 'c', 'd', 'e']) ring.push(l);
    expect(ring.tail(10)).toEqual(['c', 'd', 'e']);
    expect(ring.tail(2)).toEqual(['d', 'e']);
    expect(ring.tail(0)).toEqual([]);
  });
});

describe('ProcessRuntime', () => {
  it('runs a command with its env and GPUs, captures output, and detects its exit code', async () => {
    const path = await script(
      'exit.mjs',
      `for (let i = 0; i < 60; i++) console.log('line ' + i);
console.error('gpus=' + process.env.CUDA_VISIBLE_DEVICES + ' flavour=' + process.env.FLAVOUR);
process.exitCode = 3;`,
    );
    const s = spec([process.execPath, path], { env: { FLAVOUR: 'mint' }, gpuIndices: [2, 5] });
    const seen: string[] = [];
    const status = await runtime.start(s, { onLog: (l) => seen.push(l) });
    expect(status.state).toBe('running');
    expect(status.instanceId).toBe(s.instanceId);
    const exited = await until(async () => {
      const st = await runtime.inspect(status.handle);
      return st?.state === 'exited' ? st : undefined;
    });
    expect(exited.exitCode).toBe(3);
    const logs = await runtime.logs(status.handle, 100);
    expect(logs).toHaveLength(50);
    expect(logs).toContain('gpus=2,5 flavour=mint');
    expect(logs).not.toContain('line 0');
    expect(await runtime.logs(status.handle, 2)).toHaveLength(2);
    expect(seen).toContain('line 0');
    await runtime.remove(status.handle);
    expect(await runtime.inspect(status.handle)).toBeUndefined();
  });

  it('stops gracefully with SIGTERM when the engine honours it', async () => {
    const path = await script(
      'graceful.mjs',
      `process.on('SIGTERM', () => { console.log('bye'); process.exit(0); });
console.log('up'); setInterval(() => {}, 1000);`,
    );
    const status = await runtime.start(spec([process.execPath, path]));
    await until(async () =>
      (await runtime.logs(status.handle, 5)).includes('up') ? true : undefined,
    );
    await runtime.stop(status.handle, 30);
    const st = await runtime.inspect(status.handle);
    expect(st?.state).toBe('exited');
    expect(st?.exitCode).toBe(0);
    expect(await runtime.logs(status.handle, 5)).toContain('bye');
  });

  it('kills after the grace period, together with the processes the engine spawned', async () => {
    const grandchild = await script(
      'grandchild.mjs',
      `process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);`,
    );
    const path = await script(
      'stubborn.mjs',
      `import { spawn } from 'node:child_process';
const child = spawn(process.execPath, [${JSON.stringify(grandchild)}], { stdio: 'ignore' });
process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
console.log('grandchild ' + child.pid); setInterval(() => {}, 1000);`,
    );
    const status = await runtime.start(spec([process.execPath, path]));
    const grandchildPid = await until(async () => {
      const line = (await runtime.logs(status.handle, 10)).find((l) => l.startsWith('grandchild '));
      return line ? Number(line.split(' ')[1]) : undefined;
    });
    expect(alive(grandchildPid)).toBe(true);
    await runtime.stop(status.handle, 0.3);
    const st = await runtime.inspect(status.handle);
    expect(st?.state).toBe('exited');
    expect(st?.exitCode).toBe(128 + 9);
    expect(await runtime.logs(status.handle, 10)).toContain('ignoring SIGTERM');
    await until(() => Promise.resolve(alive(grandchildPid) ? undefined : true), 5000);
    // Stopping again is harmless.
    await runtime.stop(status.handle, 1);
  });

  it('lists what it started for a node, and reports a command that does not exist', async () => {
    const path = await script('sleepy.mjs', `setInterval(() => {}, 1000);`);
    const s = spec([process.execPath, path], {
      nodeId: 'node-list',
      port: 4321,
      labels: { a: 'b' },
    });
    const status = await runtime.start(s);
    const listed = await runtime.list('node-list');
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      handle: status.handle,
      instanceId: s.instanceId,
      state: 'running',
      port: 4321,
      labels: { a: 'b' },
    });
    expect(await runtime.list('another-node')).toEqual([]);
    await runtime.stop(status.handle, 5);

    await expect(runtime.start(spec([join(dir, 'no-such-engine')]))).rejects.toThrow(
      /command not found/,
    );
  });
});
