// Command-line options of `npm run bench`, validated in one place.
import { parseArgs } from 'node:util';
import { PATHS, type PathName } from './results.ts';

export interface BenchOptions {
  levels: number[];
  // Which paths to measure (default: all but the Worker host, which --worker adds).
  paths: PathName[];
  nonStreaming: number;
  durationS: number;
  warmupS: number;
  worker: boolean;
  // Also measure path (e): a second gpu-node in tunnel mode, reached through its tunnel.
  tunnel: boolean;
  memory: boolean;
  memoryS: number;
  // Streams held open by the slow-stream memory phase.
  slowStreams: number;
  // Clients of the long-stream level (512-token answers); 0 skips it.
  long: number;
  // Write CPU profiles of the gateway and the daemon for one level (profileLevel streams).
  profile: boolean;
  profileLevel: number;
  out: string | undefined;
  // The routing benchmark (policies against workloads) instead of the overhead one.
  routing: boolean;
  help: boolean;
}

export const USAGE = `npm run bench -- [options]

  --levels 1,16,64,256   concurrent streams per level (default 1,16,64,256)
  --paths a,m,b,c,c+      which paths to measure (default all; the Worker host's is --worker)
  --non-streaming 16     clients of the non-streaming level; 0 skips it (default 16)
  --duration 5           measured seconds per level (default 5)
  --warmup 1             warm-up seconds before each level (default 1)
  --long 64              clients of the long-stream level (512-token answers); 0 skips it
                         (default 64)
  --memory-duration 10   seconds of the slow-stream memory phase; 0 skips it (default 10)
  --slow-streams 1000    streams the memory phase holds open (default 1000)
  --profile              instead: CPU profiles (--cpu-prof) of the gateway, the daemon and
                         the floor while paths (a), (m), (b), (c) run one level, written to
                         <results>/profiles/, with a top-N self-time summary
  --profile-level 64     streams of that level (default 64)
  --worker               also measure the Worker host under wrangler dev (path d)
  --tunnel               also measure a gpu-node in tunnel mode through its tunnel (path e)
  --routing              instead: the routing policies against workloads A, B, C
                         (--duration and --warmup apply per policy; defaults 10 and 2)
  --out DIR              results folder (default test/bench/results/<timestamp>)
  -h, --help             this text`;

// The letters the README and the tables use for each path.
const PATH_FLAGS: Record<string, PathName> = {
  a: 'direct',
  m: 'floor',
  b: 'node',
  c: 'gateway',
  'c+': 'limited',
};

export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

function positiveNumber(
  name: string,
  raw: string,
  { allowZero = false, integer = false } = {},
): number {
  const value = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(value) &&
    (allowZero ? value >= 0 : value > 0) &&
    (!integer || Number.isInteger(value));
  if (!ok) {
    throw new BenchArgsError(
      `--${name} must be a ${integer ? 'whole ' : ''}number ${allowZero ? '>= 0' : '> 0'}, got '${raw}'`,
    );
  }
  return value;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        levels: { type: 'string', default: '1,16,64,256' },
        paths: { type: 'string', default: 'a,m,b,c,c+' },
        'non-streaming': { type: 'string', default: '16' },
        duration: { type: 'string' },
        warmup: { type: 'string' },
        'memory-duration': { type: 'string', default: '10' },
        'slow-streams': { type: 'string', default: '1000' },
        long: { type: 'string', default: '64' },
        profile: { type: 'boolean', default: false },
        'profile-level': { type: 'string', default: '64' },
        worker: { type: 'boolean', default: false },
        tunnel: { type: 'boolean', default: false },
        routing: { type: 'boolean', default: false },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (err) {
    throw new BenchArgsError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  const levels = v.levels
    .split(',')
    .map((s) => positiveNumber('levels', s, { integer: true }))
    .filter((n, i, all) => all.indexOf(n) === i)
    .sort((a, b) => a - b);
  if (levels.some((n) => n > 4096)) throw new BenchArgsError('--levels: at most 4096 clients');
  if (v.profile && v.routing) throw new BenchArgsError('--profile and --routing: one at a time');
  const paths = v.paths.split(',').map((raw) => {
    const path = PATH_FLAGS[raw.trim()];
    if (!path) {
      throw new BenchArgsError(
        `--paths: '${raw}' is none of ${Object.keys(PATH_FLAGS).join(', ')}`,
      );
    }
    return path;
  });
  const memoryS = positiveNumber('memory-duration', v['memory-duration'], { allowZero: true });
  return {
    levels,
    paths: PATHS.filter((p) => paths.includes(p)),
    nonStreaming: positiveNumber('non-streaming', v['non-streaming'], {
      allowZero: true,
      integer: true,
    }),
    durationS: positiveNumber('duration', v.duration ?? (v.routing ? '10' : '5')),
    warmupS: positiveNumber('warmup', v.warmup ?? (v.routing ? '2' : '1'), { allowZero: true }),
    worker: v.worker,
    tunnel: v.tunnel,
    memory: memoryS > 0,
    memoryS,
    slowStreams: positiveNumber('slow-streams', v['slow-streams'], { integer: true }),
    long: positiveNumber('long', v.long, { allowZero: true, integer: true }),
    profile: v.profile,
    profileLevel: positiveNumber('profile-level', v['profile-level'], { integer: true }),
    out: v.out,
    routing: v.routing,
    help: v.help,
  };
}
