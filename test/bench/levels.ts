// The benchmark's measuring steps, each against one path under test: a smoke request, a
// level of closed-loop load with the servers' CPU and memory read around its window, every
// level of a run, and the slow-stream memory phase. The fixed settings live here too.
import { randomUUID } from 'node:crypto';
import type { BenchOptions } from './args.ts';
import type { LoadGenerator } from './loadgen-client.ts';
import { benchSigner, type LoadConfig } from './loadgen.ts';
import { RssRecorder, WindowProbe, type Role } from './measure.ts';
import { memoryFigures } from './memory-phase.ts';
import { fmt } from './report.ts';
import { PATH_LABELS, type LevelResult, type MemoryPhase, type PathName } from './results.ts';

export const log = (line: string) => process.stderr.write(`${line}\n`);

// The simulator is fixed for the benchmark: each answer takes about 20 + 32 x 5 = 180 ms,
// and the engine admits far more sequences than any level sends, so it is never the queue.
// Requests ask for `maxTokens`; the model allows longer answers for the long-stream level.
export const SIM = { ttftMs: 20, itlMs: 5, maxTokens: 32, maxNumSeqs: 4096, seed: 1 };
export const MODEL_MAX_TOKENS = 4096;
// The long-stream level: answers as long as real chat answers (about 2.6 s each).
export const LONG_TOKENS = 512;
// The memory phase: slow streams (10 s each), so many are open at once for seconds.
export const SLOW = { ttftMs: 20, itlMs: 100, tokens: 100 };
// The memory phase's edges: time for the streams to open before "open" samples count, and
// idle time before and after.
export const SLOW_RAMP_MS = 2000;
export const IDLE_MS = 1500;
export const MODEL = 'bench-sim';
export const SLOW_MODEL = 'bench-sim-slow';
// Path (e)'s model, served by the tunnel node's own simulator.
export const TUNNEL_MODEL = 'bench-sim-tunnel';
export const REQUEST_TIMEOUT_MS = 30_000;
export const NODE_JWT_TTL_S = 60;

// A path under test: where the load goes and which processes serve it.
export interface Target {
  path: PathName;
  url: string;
  headers: Record<string, string>;
  jwt?: LoadConfig['jwt'];
  roles: Role[];
  // The model asked for; default MODEL.
  model?: string;
}

export function chatBody(
  model: string,
  stream: boolean,
  maxTokens: number,
): Record<string, unknown> {
  return {
    model,
    messages: [{ role: 'user', content: 'Benchmark: please write a few words.' }],
    max_tokens: maxTokens,
    stream,
  };
}

// One request through a path before measuring it, so a broken path fails fast and clearly.
export async function smokeTest(target: Target, model: string): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', ...target.headers };
  if (target.jwt) {
    const { aud, instance } = target.jwt;
    const signer = await benchSigner(target.jwt);
    headers.authorization = `Bearer ${await signer.sign({ aud, instance, model, jti: randomUUID(), scope: 'inference' })}`;
  }
  const res = await fetch(target.url, {
    method: 'POST',
    headers,
    body: JSON.stringify(chatBody(model, false, 4)),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.status !== 200) {
    throw new Error(
      `${PATH_LABELS[target.path]} does not answer: HTTP ${res.status} ${text.slice(0, 300)}`,
    );
  }
}

export async function measureLevel(
  loadgen: LoadGenerator,
  target: Target,
  opts: BenchOptions,
  stream: boolean,
  concurrency: number,
  tokens: number,
): Promise<LevelResult> {
  const probe = new WindowProbe(target.roles);
  const config: LoadConfig = {
    url: target.url,
    headers: target.headers,
    body: chatBody(target.model ?? MODEL, stream, tokens),
    stream,
    concurrency,
    warmupMs: opts.warmupS * 1000,
    durationMs: opts.durationS * 1000,
    timeoutMs: REQUEST_TIMEOUT_MS,
    jwt: target.jwt,
  };
  const budget = config.warmupMs + config.durationMs + REQUEST_TIMEOUT_MS + 15_000;
  const load = await loadgen.run(
    config,
    { start: () => probe.start(), end: () => probe.stop() },
    budget,
  );
  const result: LevelResult = {
    path: target.path,
    stream,
    concurrency,
    tokens,
    load,
    processes: probe.usage(),
    windowUs: { fromUs: probe.fromUs, toUs: probe.toUs },
  };
  const mode = stream ? (tokens === SIM.maxTokens ? 'stream' : `stream/${tokens}`) : 'non-stream';
  log(
    `  ${PATH_LABELS[target.path].padEnd(36)} ${mode.padEnd(10)} ${String(concurrency).padStart(4)}: ` +
      `${fmt(load.rps, 0).padStart(5)} req/s, TTFT p50 ${fmt(load.ttftMs?.p50)} ms, ` +
      `latency p50 ${fmt(load.latencyMs.p50)} ms, ${load.failed} errors`,
  );
  return result;
}

export async function measurePaths(
  loadgen: LoadGenerator,
  targets: readonly Target[],
  opts: BenchOptions,
): Promise<LevelResult[]> {
  const levels: LevelResult[] = [];
  // Level by level, every path in turn, so slow drift of the machine touches all paths alike.
  const plan: [boolean, number, number][] = opts.levels.map((c) => [true, c, SIM.maxTokens]);
  if (opts.nonStreaming > 0) plan.push([false, opts.nonStreaming, SIM.maxTokens]);
  // The long-stream level: CPU per chunk rather than per request; the limiter's cost
  // (c+) is per request, so it is left out here.
  if (opts.long > 0) plan.push([true, opts.long, LONG_TOKENS]);
  for (const [stream, concurrency, tokens] of plan) {
    for (const target of targets) {
      if (tokens !== SIM.maxTokens && target.path === 'limited') continue;
      levels.push(await measureLevel(loadgen, target, opts, stream, concurrency, tokens));
    }
  }
  return levels;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Many slow streams at once through the gateway, its RSS sampled from before they open to
// after they ended: whether the gateway's memory stays flat while they are open.
export async function memoryPhase(
  loadgen: LoadGenerator,
  target: Target,
  gatewayRole: Role,
  opts: BenchOptions,
  idleAtStartKb: number | null,
): Promise<MemoryPhase> {
  const concurrency = opts.slowStreams;
  log(
    `  memory: ${concurrency} slow streams through ${PATH_LABELS[target.path]} for ${opts.memoryS} s`,
  );
  const recorder = new RssRecorder(gatewayRole);
  recorder.start();
  await sleep(IDLE_MS);
  const durationMs = opts.memoryS * 1000;
  let openFromMs = Number.NaN;
  let openToMs = Number.NaN;
  const load = await loadgen.run(
    {
      url: target.url,
      headers: target.headers,
      body: chatBody(SLOW_MODEL, true, SLOW.tokens),
      stream: true,
      concurrency,
      warmupMs: SLOW_RAMP_MS,
      durationMs,
      timeoutMs: 60_000,
    },
    {
      start: () => (openFromMs = recorder.elapsedMs()),
      end: () => (openToMs = recorder.elapsedMs()),
    },
    SLOW_RAMP_MS + durationMs + 90_000,
  );
  const afterFromMs = recorder.elapsedMs();
  await sleep(IDLE_MS * 2);
  recorder.stop();
  return {
    path: target.path,
    concurrency,
    durationMs,
    tokensPerStream: SLOW.tokens,
    itlMs: SLOW.itlMs,
    samples: recorder.samples,
    idleAtStartKb,
    ...memoryFigures(recorder.samples, { openFromMs, openToMs, afterFromMs }),
    completed: load.completed,
    failed: load.failed,
    errorSamples: load.errorSamples,
  };
}
