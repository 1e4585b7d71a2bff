// CPU time and memory of the processes under test, read from Linux's /proc. The parsers
// are pure; the readers at the bottom touch the file system.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  // User and system CPU time in clock ticks (see clockTicksPerSecond).
  utime: number;
  stime: number;
}

// /proc/<pid>/stat. The command name sits in parentheses and may itself hold spaces and
// parentheses, so the fields after it are found from the LAST ')'.
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc stat line: ${text.slice(0, 80)}`);
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // Fields from the third on (state is field 3; utime 14, stime 15 in proc(5)).
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const field = (n: number): number => {
    const value = Number(rest[n - 3]);
    if (!Number.isFinite(value))
      throw new Error(`stat field ${n} missing in: ${text.slice(0, 80)}`);
    return value;
  };
  return {
    pid,
    comm,
    state: rest[0] ?? '?',
    ppid: field(4),
    utime: field(14),
    stime: field(15),
  };
}

export interface ProcMemory {
  // Resident set size now, and its high-water mark since the process started (KiB).
  rssKb: number;
  hwmKb: number;
  // RSS split into anonymous memory (heaps, buffers) and mapped files (code, libraries);
  // null on kernels before 4.5, which do not report it.
  anonKb: number | null;
  fileKb: number | null;
}

// /proc/<pid>/status: the VmRSS, VmHWM, RssAnon and RssFile lines.
export function parseStatus(text: string): ProcMemory {
  const find = (name: string): number | null => {
    const match = new RegExp(`^${name}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return match?.[1] ? Number(match[1]) : null;
  };
  const kb = (name: string): number => {
    const value = find(name);
    if (value === null) throw new Error(`${name} missing from /proc status`);
    return value;
  };
  return {
    rssKb: kb('VmRSS'),
    hwmKb: kb('VmHWM'),
    anonKb: find('RssAnon'),
    fileKb: find('RssFile'),
  };
}

// All descendants of root (children, their children, ...), given every process's parent.
export function descendants(
  procs: readonly { pid: number; ppid: number }[],
  root: number,
): number[] {
  const children = new Map<number, number[]>();
  for (const p of procs) {
    const list = children.get(p.ppid) ?? [];
    list.push(p.pid);
    children.set(p.ppid, list);
  }
  const found: number[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length) {
    const pid = queue.shift() as number;
    if (found.includes(pid)) continue;
    found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

let ticks: number | undefined;

// USER_HZ, the unit of utime and stime (100 on practically every Linux).
export function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export function readStat(pid: number): ProcStat {
  return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

// CPU seconds (user + system) the process has used so far.
export function cpuSeconds(pid: number): number {
  const stat = readStat(pid);
  return (stat.utime + stat.stime) / clockTicksPerSecond();
}

export function memory(pid: number): ProcMemory {
  return parseStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

// Every live process's pid and parent; processes that vanish while being read are skipped.
export function processTable(): ProcStat[] {
  const table: ProcStat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      table.push(readStat(Number(name)));
    } catch {
      // Exited between readdir and read.
    }
  }
  return table;
}
