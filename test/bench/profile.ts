// Reads V8 CPU profiles (.cpuprofile, as `node --cpu-prof` writes them) and sums self time
// per function and per area (a project file, an npm package, Node.js internals), within a
// time window: `npm run bench -- --profile` crops each process's profile to the level it
// measured. Pure functions; the runner does the I/O. Sample times are microseconds on the
// monotonic clock, the same as process.hrtime in any process on the machine.
import { markdownTable, fmt } from './report-format.ts';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

export interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  // Where it lives, relative to the repository ('gpu-node/src/server/proxy.ts:12'), an npm
  // package ('jose'), 'node:…' for Node.js itself, or '' for V8's own entries.
  where: string;
  area: string;
  selfMs: number;
}

export interface ProfileSummary {
  // Sampled time inside the window, and the part of it the process was busy (not idle).
  windowMs: number;
  busyMs: number;
  functions: SelfTime[];
  areas: { area: string; selfMs: number }[];
}

export function isCpuProfile(value: unknown): value is CpuProfile {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Partial<CpuProfile>;
  return (
    Array.isArray(p.nodes) &&
    Array.isArray(p.samples) &&
    Array.isArray(p.timeDeltas) &&
    typeof p.startTime === 'number'
  );
}

// Where a call frame's code lives, and the area it is counted under.
export function locate(frame: CallFrame, repoRoot: string): { where: string; area: string } {
  const { url } = frame;
  if (!url) return { where: '', area: frame.functionName || '(unknown)' };
  if (url.startsWith('node:')) return { where: url, area: 'node: internals' };
  const path = url.startsWith('file://') ? decodeURIComponent(url.slice('file://'.length)) : url;
  const modules = path.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = path.slice(modules + '/node_modules/'.length).split('/');
    const pkg = rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1] ?? ''}` : (rest[0] ?? '');
    return { where: pkg, area: `npm: ${pkg}` };
  }
  const root = repoRoot.endsWith('/') ? repoRoot : `${repoRoot}/`;
  const relative = path.startsWith(root) ? path.slice(root.length) : path;
  // Line numbers in profiles are 0-based.
  return { where: `${relative}:${frame.lineNumber + 1}`, area: relative };
}

const IDLE = '(idle)';

// Self time per function and per area within [fromUs, toUs] (the whole profile without a
// window). Each sample stands for the time until the next one, as Chrome's DevTools count it.
export function summarizeProfile(
  profile: CpuProfile,
  repoRoot: string,
  window?: { fromUs: number; toUs: number },
  top = 15,
): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const functions = new Map<string, SelfTime>();
  const areas = new Map<string, number>();
  let windowUs = 0;
  let busyUs = 0;
  let t = profile.startTime;
  const times = profile.timeDeltas.map((d) => (t += d));
  for (let i = 0; i < profile.samples.length; i += 1) {
    const at = times[i];
    const next = times[i + 1] ?? profile.endTime;
    const id = profile.samples[i];
    if (at === undefined || id === undefined) continue;
    if (window && (at < window.fromUs || at >= window.toUs)) continue;
    const us = Math.max(0, next - at);
    windowUs += us;
    const frame = byId.get(id);
    if (!frame || frame.functionName === IDLE) continue;
    busyUs += us;
    const { where, area } = locate(frame, repoRoot);
    const name = frame.functionName || '(anonymous)';
    const key = `${name}\u0000${where}`;
    const entry = functions.get(key) ?? { name, where, area, selfMs: 0 };
    entry.selfMs += us / 1000;
    functions.set(key, entry);
    areas.set(area, (areas.get(area) ?? 0) + us / 1000);
  }
  return {
    windowMs: windowUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...functions.values()].sort((a, b) => b.selfMs - a.selfMs).slice(0, top),
    areas: [...areas.entries()]
      .map(([area, selfMs]) => ({ area, selfMs }))
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, top),
  };
}

// Names of regular expressions and the like can be long; a table cell keeps their start.
const clip = (text: string, max = 60) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

export function renderProfileSummary(title: string, summary: ProfileSummary): string {
  const share = (ms: number) => `${fmt(summary.busyMs ? (ms / summary.busyMs) * 100 : 0, 1)}%`;
  return [
    `### ${title}`,
    '',
    `Busy ${fmt(summary.busyMs, 0)} ms of ${fmt(summary.windowMs, 0)} ms sampled in the window ` +
      `(${fmt(summary.windowMs ? (summary.busyMs / summary.windowMs) * 100 : 0, 0)}% of one core).`,
    '',
    markdownTable(
      ['self ms', 'of busy', 'function', 'where'],
      summary.functions.map((f) => [fmt(f.selfMs, 1), share(f.selfMs), clip(f.name), f.where]),
      ['r', 'r', 'l', 'l'],
    ),
    '',
    markdownTable(
      ['self ms', 'of busy', 'area'],
      summary.areas.map((a) => [fmt(a.selfMs, 1), share(a.selfMs), clip(a.area)]),
      ['r', 'r', 'l'],
    ),
    '',
  ].join('\n');
}
