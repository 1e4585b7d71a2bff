import { describe, expect, it } from 'vitest';
import { BenchArgsError, parseBenchArgs } from './args.ts';

describe('parseBenchArgs', () => {
  it('adds path (e) with --tunnel', () => {
    expect(parseBenchArgs(['--tunnel']).tunnel).toBe(true);
  });

  it('has defaults that make the issue default run', () => {
    expect(parseBenchArgs([])).toEqual({
      levels: [1, 16, 64, 256],
      paths: ['direct', 'floor', 'node', 'gateway', 'limited'],
      nonStreaming: 16,
      durationS: 5,
      warmupS: 1,
      worker: false,
      tunnel: false,
      memory: true,
      memoryS: 10,
      slowStreams: 1000,
      long: 64,
      profile: false,
      profileLevel: 64,
      out: undefined,
      routing: false,
      help: false,
    });
  });

  it('takes --routing, with longer default windows per policy', () => {
    expect(parseBenchArgs(['--routing'])).toMatchObject({
      routing: true,
      durationS: 10,
      warmupS: 2,
    });
    expect(parseBenchArgs(['--routing', '--duration', '3'])).toMatchObject({ durationS: 3 });
  });

  it('reads levels (sorted, without repeats), durations, --worker and --out', () => {
    const o = parseBenchArgs([
      '--levels',
      '64,1,16,1',
      '--duration',
      '2.5',
      '--worker',
      '--out',
      '/tmp/x',
    ]);
    expect(o.levels).toEqual([1, 16, 64]);
    expect(o.durationS).toBe(2.5);
    expect(o.worker).toBe(true);
    expect(o.out).toBe('/tmp/x');
  });

  it('turns phases off with 0', () => {
    const o = parseBenchArgs(['--non-streaming', '0', '--memory-duration', '0', '--long', '0']);
    expect(o.nonStreaming).toBe(0);
    expect(o.memory).toBe(false);
    expect(o.long).toBe(0);
  });

  it('reads the slow streams, the long level and the profile level', () => {
    const o = parseBenchArgs([
      '--slow-streams',
      '300',
      '--long',
      '16',
      '--profile',
      '--profile-level',
      '256',
    ]);
    expect(o).toMatchObject({ slowStreams: 300, long: 16, profile: true, profileLevel: 256 });
    expect(() => parseBenchArgs(['--slow-streams', '0'])).toThrow(/--slow-streams/);
    expect(() => parseBenchArgs(['--profile', '--routing'])).toThrow(/one at a time/);
  });

  it("reads --paths by their letters, in the tables' order", () => {
    expect(parseBenchArgs(['--paths', 'b,m']).paths).toEqual(['floor', 'node']);
    expect(() => parseBenchArgs(['--paths', 'a,x'])).toThrow(/--paths: 'x'/);
  });

  it('names the bad option', () => {
    expect(() => parseBenchArgs(['--levels', '1,x'])).toThrow(/--levels must be a whole number/);
    expect(() => parseBenchArgs(['--levels', '0'])).toThrow(BenchArgsError);
    expect(() => parseBenchArgs(['--duration', '-1'])).toThrow(/--duration/);
    expect(() => parseBenchArgs(['--bogus'])).toThrow(BenchArgsError);
  });
});
