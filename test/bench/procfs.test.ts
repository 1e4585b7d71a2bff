import { describe, expect, it } from 'vitest';
import { cpuSeconds, descendants, memory, parseStat, parseStatus, processTable } from './procfs.ts';

const STAT =
  '8218 (cat) R 8215 8215 6106 0 -1 4194304 102 0 0 0 17 4 0 0 20 0 1 0 591760 3133440 416 ' +
  '18446744073709551615 94181950259200 94181950279081 140723574770144 0 0 0 0 0 0 0 0 0 17 0';

describe('parseStat', () => {
  it('reads pid, name, state, parent and CPU ticks', () => {
    expect(parseStat(STAT)).toEqual({
      pid: 8218,
      comm: 'cat',
      state: 'R',
      ppid: 8215,
      utime: 17,
      stime: 4,
    });
  });

  it('keeps a command name with spaces and parentheses whole', () => {
    const stat = parseStat(STAT.replace('(cat)', '(a (b) c)'));
    expect(stat.comm).toBe('a (b) c');
    expect(stat.ppid).toBe(8215);
    expect(stat.utime).toBe(17);
  });

  it('refuses text that is not a stat line', () => {
    expect(() => parseStat('hello')).toThrow(/not a \/proc stat line/);
    expect(() => parseStat('1 (x) S 0')).toThrow(/field/);
  });
});

describe('parseStatus', () => {
  it('reads VmRSS and VmHWM in KiB, and the split of RSS where the kernel reports it', () => {
    const text = 'Name:\tnode\nVmPeak:\t  999 kB\nVmHWM:\t   52000 kB\nVmRSS:\t   48123 kB\n';
    expect(parseStatus(text)).toEqual({ rssKb: 48123, hwmKb: 52000, anonKb: null, fileKb: null });
    const split = `${text}RssAnon:\t   40000 kB\nRssFile:\t    8000 kB\nRssShmem:\t  123 kB\n`;
    expect(parseStatus(split)).toMatchObject({ anonKb: 40000, fileKb: 8000 });
  });

  it('fails when a line is missing (a kernel thread has no VmRSS)', () => {
    expect(() => parseStatus('Name:\tkthreadd\n')).toThrow(/VmRSS/);
  });
});

describe('descendants', () => {
  it('finds children and grandchildren, not siblings or the root', () => {
    const procs = [
      { pid: 1, ppid: 0 },
      { pid: 10, ppid: 1 },
      { pid: 11, ppid: 10 },
      { pid: 12, ppid: 11 },
      { pid: 13, ppid: 10 },
      { pid: 20, ppid: 1 },
    ];
    expect(descendants(procs, 10).sort((a, b) => a - b)).toEqual([11, 12, 13]);
    expect(descendants(procs, 12)).toEqual([]);
  });
});

describe('readers on this machine', () => {
  it('read this process: CPU time grows with work, memory is plausible', () => {
    const before = cpuSeconds(process.pid);
    // Burn 50 ms of CPU (not wall) time, so a busy machine cannot starve the check.
    const start = process.cpuUsage();
    let x = 0;
    while (process.cpuUsage(start).user < 50_000) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(cpuSeconds(process.pid)).toBeGreaterThan(before);
    const mem = memory(process.pid);
    expect(mem.rssKb).toBeGreaterThan(1000);
    expect(mem.hwmKb).toBeGreaterThanOrEqual(mem.rssKb);
  });

  it('lists this process with its parent in the process table', () => {
    const me = processTable().find((p) => p.pid === process.pid);
    expect(me?.ppid).toBe(process.ppid);
  });
});
