import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  isCpuProfile,
  locate,
  renderProfileSummary,
  summarizeProfile,
  type CpuProfile,
} from './profile.ts';

const ROOT = '/repo';
const frame = (functionName: string, url = '', lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
  columnNumber: 0,
});

// Samples every 1000 us from t = 1000: ids 2 2 3 4 2 1 (1 is idle).
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(idle)') },
    { id: 2, callFrame: frame('proxyRequest', 'file:///repo/gpu-node/src/server/proxy.ts', 9) },
    { id: 3, callFrame: frame('jwtVerify', 'file:///repo/node_modules/jose/dist/verify.js') },
    { id: 4, callFrame: frame('(garbage collector)') },
  ],
  startTime: 0,
  endTime: 7000,
  samples: [2, 2, 3, 4, 2, 1],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
};

describe('locate', () => {
  it('names project files, npm packages and Node.js internals', () => {
    expect(locate(frame('f', 'file:///repo/gateway/src/x.ts', 4), ROOT)).toEqual({
      where: 'gateway/src/x.ts:5',
      area: 'gateway/src/x.ts',
    });
    expect(locate(frame('f', 'file:///repo/node_modules/@hono/node-server/a.js'), ROOT).area).toBe(
      'npm: @hono/node-server',
    );
    expect(locate(frame('f', 'node:internal/streams/readable'), ROOT).area).toBe('node: internals');
    expect(locate(frame('(program)'), ROOT)).toEqual({ where: '', area: '(program)' });
  });
});

describe('summarizeProfile', () => {
  it('sums self time per function and area, idle left out of busy time', () => {
    const s = summarizeProfile(profile, ROOT);
    expect(s.windowMs).toBe(6);
    expect(s.busyMs).toBe(5);
    expect(s.functions.map((f) => [f.name, f.selfMs])).toEqual([
      ['proxyRequest', 3],
      ['jwtVerify', 1],
      ['(garbage collector)', 1],
    ]);
    expect(s.functions[0]?.where).toBe('gpu-node/src/server/proxy.ts:10');
    expect(s.areas[1]).toEqual({ area: 'npm: jose', selfMs: 1 });
  });

  it('counts only the samples inside the window', () => {
    const s = summarizeProfile(profile, ROOT, { fromUs: 3000, toUs: 5000 });
    expect(s.busyMs).toBe(2);
    expect(s.functions.map((f) => f.name)).toEqual(['jwtVerify', '(garbage collector)']);
    const md = renderProfileSummary('daemon', s);
    expect(md).toContain('### daemon');
    expect(md).toMatch(/\| +1\.0 \| +50\.0% \| jwtVerify +\| jose +\|/);
  });

  it('reads a profile that node --cpu-prof wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'fleetgate-prof-'));
    try {
      const script =
        'function spin(){let x=0;for(let i=0;i<2e6;i++)x+=Math.sqrt(i);return x}' +
        'const t=Date.now();while(Date.now()-t<150)spin();';
      execFileSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, '-e', script]);
      const [file] = await readdir(dir);
      const parsed: unknown = JSON.parse(await readFile(join(dir, file ?? ''), 'utf8'));
      expect(isCpuProfile(parsed)).toBe(true);
      if (!isCpuProfile(parsed)) return;
      const s = summarizeProfile(parsed, ROOT);
      expect(s.busyMs).toBeGreaterThan(0);
      expect(s.functions.map((f) => f.name)).toContain('spin');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
