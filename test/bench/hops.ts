// Each hop's CPU against the floor (issue 11): the gateway's and the daemon's CPU per
// streamed request, and per 1000 streamed chunks, as multiples of what the bare node:http
// pass-through (path m) used for the same load in the same run. Pure functions of the levels.
import { markdownTable, fmt } from './report-format.ts';
import type { LevelResult, PathName } from './results.ts';

// One hop: which path's level, which process in it.
export interface Hop {
  key: 'floor' | 'daemon' | 'daemonInGateway' | 'gateway';
  label: string;
  path: PathName;
  role: string;
}

export const HOPS: readonly Hop[] = [
  { key: 'floor', label: 'floor (m)', path: 'floor', role: 'floor' },
  { key: 'daemon', label: 'daemon (b)', path: 'node', role: 'daemon' },
  { key: 'daemonInGateway', label: 'daemon in (c)', path: 'gateway', role: 'daemon' },
  { key: 'gateway', label: 'gateway (c)', path: 'gateway', role: 'gateway' },
];

export interface HopCost {
  // CPU milliseconds per completed request, and per 1000 content chunks received.
  perRequestMs: number | null;
  perThousandChunksMs: number | null;
  // The same as multiples of the floor's (null where either is missing).
  perRequestRatio: number | null;
  perThousandChunksRatio: number | null;
}

export interface HopRow {
  stream: boolean;
  concurrency: number;
  tokens: number;
  hops: Partial<Record<Hop['key'], HopCost>>;
}

export function cpuPerRequestMs(level: LevelResult | undefined, role: string): number | null {
  const usage = level?.processes[role];
  if (!level || !usage || level.load.completed === 0) return null;
  return (usage.cpuS / level.load.completed) * 1000;
}

export function cpuPerThousandChunksMs(
  level: LevelResult | undefined,
  role: string,
): number | null {
  const usage = level?.processes[role];
  const chunks = level?.load.chunksInWindow ?? 0;
  if (!level || !usage || chunks === 0) return null;
  return (usage.cpuS / chunks) * 1_000_000;
}

const ratio = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);

// One row per level (mode, concurrency, answer length) that the floor ran.
export function hopCosts(levels: readonly LevelResult[]): HopRow[] {
  const rows: HopRow[] = [];
  for (const floor of levels.filter((l) => l.path === 'floor')) {
    const find = (path: PathName) =>
      levels.find(
        (l) =>
          l.path === path &&
          l.stream === floor.stream &&
          l.concurrency === floor.concurrency &&
          l.tokens === floor.tokens,
      );
    const base = {
      request: cpuPerRequestMs(floor, 'floor'),
      chunks: cpuPerThousandChunksMs(floor, 'floor'),
    };
    const hops: HopRow['hops'] = {};
    for (const hop of HOPS) {
      const level = find(hop.path);
      if (!level) continue;
      const perRequestMs = cpuPerRequestMs(level, hop.role);
      const perThousandChunksMs = cpuPerThousandChunksMs(level, hop.role);
      hops[hop.key] = {
        perRequestMs,
        perThousandChunksMs,
        perRequestRatio: ratio(perRequestMs, base.request),
        perThousandChunksRatio: ratio(perThousandChunksMs, base.chunks),
      };
    }
    rows.push({
      stream: floor.stream,
      concurrency: floor.concurrency,
      tokens: floor.tokens,
      hops,
    });
  }
  return rows;
}

function cell(cost: HopCost | undefined, perChunk: boolean): string {
  if (!cost) return '–';
  const value = perChunk ? cost.perThousandChunksMs : cost.perRequestMs;
  const times = perChunk ? cost.perThousandChunksRatio : cost.perRequestRatio;
  return `${fmt(value, 2)} (${fmt(times, 2)}×)`;
}

// The table of results.md: per level, each hop's CPU and its multiple of the floor's.
// Short answers are compared per request, long ones per 1000 chunks.
export function renderHopTable(rows: readonly HopRow[], shortTokens: number): string {
  return markdownTable(
    ['mode', 'clients', 'tokens', 'unit', ...HOPS.map((h) => h.label)],
    rows.map((r) => {
      const perChunk = r.stream && r.tokens !== shortTokens;
      return [
        r.stream ? 'stream' : 'non-stream',
        String(r.concurrency),
        String(r.tokens),
        perChunk ? 'CPU ms / 1000 chunks' : 'CPU ms / request',
        ...HOPS.map((h) => cell(r.hops[h.key], perChunk)),
      ];
    }),
    ['l', 'r', 'r', 'l', 'r', 'r', 'r', 'r'],
  );
}
