import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuInfoSchema } from '../../../schema/contracts.ts';
import { parseNvidiaSmiCsv, queryGpus } from './nvidia-smi.ts';

const fixture = (name: string) => readFile(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

describe('parseNvidiaSmiCsv', () => {
  it('reads an 8x H100 node', async () => {
    const { gpus, skipped } = parseNvidiaSmiCsv(await fixture('h100-8x.csv'));
    expect(skipped).toEqual([]);
    expect(gpus.map((g) => g.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(gpus[0]).toEqual({
      index: 0,
      uuid: 'GPU-4b4d2c7e-3f3a-9c1e-8f55-2a8d3c6e1b01',
      name: 'NVIDIA H100 80GB HBM3',
      memory_total_mib: 81559,
      memory_used_mib: 75432,
      utilization_pct: 97,
      temperature_c: 64,
      power_w: 612.45,
    });
    for (const gpu of gpus) expect(GpuInfoSchema.safeParse(gpu).success).toBe(true);
  });

  it('reads A100, RTX 4090 and L4 outputs', async () => {
    const a100 = parseNvidiaSmiCsv(await fixture('a100-sxm4-40gb.csv')).gpus;
    expect(a100.map((g) => [g.name, g.memory_total_mib, g.memory_used_mib])).toEqual([
      ['NVIDIA A100-SXM4-40GB', 40960, 38211],
      ['NVIDIA A100-SXM4-40GB', 40960, 4],
    ]);
    const rtx = parseNvidiaSmiCsv(await fixture('rtx4090.csv')).gpus;
    expect(rtx).toHaveLength(1);
    expect(rtx[0]?.name).toBe('NVIDIA GeForce RTX 4090');
    expect(rtx[0]?.utilization_pct).toBe(12);
    const l4 = parseNvidiaSmiCsv(await fixture('l4.csv')).gpus;
    expect(l4.map((g) => g.utilization_pct)).toEqual([0, 100]);
    expect(l4[1]?.power_w).toBe(71.98);
  });

  it('leaves out values nvidia-smi cannot report ([N/A], [Not Supported], errors)', async () => {
    const [t4] = parseNvidiaSmiCsv(await fixture('t4-na-power.csv')).gpus;
    expect(t4?.name).toBe('Tesla T4');
    expect(t4?.memory_total_mib).toBe(15360);
    expect(t4).not.toHaveProperty('power_w');

    const mig = parseNvidiaSmiCsv(await fixture('a100-mig.csv')).gpus;
    expect(mig).toHaveLength(2);
    expect(mig[0]).not.toHaveProperty('utilization_pct');
    expect(mig[0]?.power_w).toBe(62.5);
    expect(mig[1]).not.toHaveProperty('utilization_pct');
    expect(mig[1]).not.toHaveProperty('power_w');
    expect(mig[1]?.memory_used_mib).toBe(41234);
    for (const gpu of mig) expect(GpuInfoSchema.safeParse(gpu).success).toBe(true);
  });

  it('tolerates CRLF, blank lines, units and stray whitespace, and skips garbage', () => {
    const text =
      '\r\n 1 ,GPU-b, NVIDIA L4 , 23034 MiB, 10 MiB, 5 %, 40, 16.00 W\r\n' +
      'No devices were found\r\n0, GPU-a, Tesla T4, 15360, 0, 0, 38, [N/A]\n\n';
    const { gpus, skipped } = parseNvidiaSmiCsv(text);
    expect(gpus.map((g) => [g.index, g.name, g.memory_total_mib, g.utilization_pct])).toEqual([
      [0, 'Tesla T4', 15360, 0],
      [1, 'NVIDIA L4', 23034, 5],
    ]);
    expect(skipped).toEqual(['No devices were found']);
  });
});

describe('queryGpus', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleetgate-smi-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function script(name: string, body: string): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, 0o755);
    return path;
  }

  it('runs the given binary with the query arguments and parses its output', async () => {
    const csv = await fixture('l4.csv');
    const bin = await script(
      'fake-smi',
      `case "$1" in --query-gpu=index,uuid,name,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw) ;; *) exit 9;; esac\ncat <<'CSV'\n${csv}CSV`,
    );
    const result = await queryGpus(bin);
    expect(result.error).toBeUndefined();
    expect(result.gpus.map((g) => g.name)).toEqual(['NVIDIA L4', 'NVIDIA L4']);
  });

  it('treats a missing nvidia-smi as a CPU-only node, and a failing one as an error', async () => {
    expect(await queryGpus(join(dir, 'does-not-exist'))).toEqual({ gpus: [] });
    const failing = await script(
      'broken-smi',
      `echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2; exit 9`,
    );
    const result = await queryGpus(failing);
    expect(result.gpus).toEqual([]);
    expect(result.error).toMatch(/couldn't communicate with the NVIDIA driver/);
  });
});
