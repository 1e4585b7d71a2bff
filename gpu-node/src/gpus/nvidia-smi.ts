// GPU inventory from nvidia-smi. A node without nvidia-smi (ENOENT) is a CPU-only node.
import { execFile } from 'node:child_process';
import type { GpuInfo } from '../../../schema/contracts.ts';

export const NVIDIA_SMI_FIELDS = [
  'index',
  'uuid',
  'name',
  'memory.total',
  'memory.used',
  'utilization.gpu',
  'temperature.gpu',
  'power.draw',
] as const;

export const NVIDIA_SMI_ARGS = [
  `--query-gpu=${NVIDIA_SMI_FIELDS.join(',')}`,
  '--format=csv,noheader,nounits',
];

// nvidia-smi prints "[N/A]", "[Not Supported]", "[Unknown Error]" and the like for values
// a GPU (or a MIG-enabled GPU, or a driver) cannot report; those become "unknown".
function numberOrUndefined(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (value === '' || value.startsWith('[') || /^n\/?a$/i.test(value)) return undefined;
  // Units are present when a caller forgot `nounits`; tolerate "80 %", "81559 MiB", "70.5 W".
  const match = /^-?\d+(\.\d+)?/.exec(value);
  if (!match) return undefined;
  const n = Number(match[0]);
  return Number.isFinite(n) ? n : undefined;
}

// Splits one CSV line; GPU names never contain commas, but quoted fields are handled anyway.
function splitCsvLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of line) {
    if (ch === '"') quoted = !quoted;
    else if (ch === ',' && !quoted) {
      fields.push(current.trim());
      current = '';
    } else current += ch;
  }
  fields.push(current.trim());
  return fields;
}

export interface ParseResult {
  gpus: GpuInfo[];
  // Lines that could not be read, kept for a warning.
  skipped: string[];
}

export function parseNvidiaSmiCsv(text: string): ParseResult {
  const gpus: GpuInfo[] = [];
  const skipped: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line) continue;
    const [index, uuid, name, total, used, util, temp, power] = splitCsvLine(line);
    const gpuIndex = numberOrUndefined(index);
    const memoryTotal = numberOrUndefined(total);
    if (gpuIndex === undefined || !Number.isInteger(gpuIndex) || gpuIndex < 0 || !name) {
      skipped.push(line);
      continue;
    }
    const gpu: GpuInfo = {
      index: gpuIndex,
      name: name.slice(0, 256),
      memory_total_mib: memoryTotal !== undefined && memoryTotal >= 0 ? memoryTotal : 0,
    };
    if (uuid && !uuid.startsWith('[')) gpu.uuid = uuid.slice(0, 128);
    const memoryUsed = numberOrUndefined(used);
    if (memoryUsed !== undefined && memoryUsed >= 0) gpu.memory_used_mib = memoryUsed;
    const utilization = numberOrUndefined(util);
    if (utilization !== undefined && utilization >= 0 && utilization <= 100) {
      gpu.utilization_pct = utilization;
    }
    const temperature = numberOrUndefined(temp);
    if (temperature !== undefined) gpu.temperature_c = temperature;
    const powerDraw = numberOrUndefined(power);
    if (powerDraw !== undefined) gpu.power_w = powerDraw;
    gpus.push(gpu);
  }
  gpus.sort((a, b) => a.index - b.index);
  return { gpus, skipped };
}

export interface GpuQuery {
  gpus: GpuInfo[];
  // Set when nvidia-smi exists but failed (driver not loaded, timeout): worth a warning,
  // unlike a node without it.
  error?: string;
}

export function nvidiaSmiBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.FLEETGATE_NVIDIA_SMI || 'nvidia-smi';
}

export function queryGpus(binary = nvidiaSmiBinary(), timeoutMs = 10_000): Promise<GpuQuery> {
  return new Promise((resolve) => {
    execFile(
      binary,
      NVIDIA_SMI_ARGS,
      { timeout: timeoutMs, maxBuffer: 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
            resolve({ gpus: [] });
            return;
          }
          const why = stderr.trim() || stdout.trim() || err.message;
          resolve({ gpus: [], error: `${binary} failed: ${why.split('\n')[0] ?? why}` });
          return;
        }
        const { gpus, skipped } = parseNvidiaSmiCsv(stdout);
        resolve(
          skipped.length
            ? {
                gpus,
                error: `${binary}: could not read ${skipped.length} line(s): ${skipped[0] ?? ''}`,
              }
            : { gpus },
        );
      },
    );
  });
}
