// The load generator: its own process, apart from the servers it measures, so that its CPU
// use is not counted as theirs. It reads run commands as JSON lines on stdin and answers
// with JSON lines on stdout:
//   <- {"type":"run","id":"...","config":{...LoadConfig}}
//   -> {"type":"window-start","id"}  {"type":"window-end","id"}  {"type":"result","id","result"}
// The parent reads the servers' /proc counters when the measuring window opens and closes.
// Each run is closed-loop: `concurrency` workers each send one request, wait for the whole
// answer, and send the next, for a warm-up and then a measuring window.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type { JWK } from 'jose';
import type { DataPlaneSigner } from '../../gateway/src/signing/node-keys.ts';
import { createNodeSigner } from '../../gateway/src/signing/node-signer.ts';
import { summarize, type Summary } from './stats.ts';
import { StreamProbe } from './stream-probe.ts';

export interface LoadConfig {
  // Full URL of the chat-completions endpoint (loopback only).
  url: string;
  headers: Record<string, string>;
  // The chat request; `stream` in it must match `stream` here.
  body: Record<string, unknown>;
  stream: boolean;
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  // Per request; a request past it counts as failed.
  timeoutMs: number;
  // Sign a data-plane JWT per request, as the gateway does (path "through the gpu-node only").
  jwt?: DataPlaneJwtConfig;
}

export interface DataPlaneJwtConfig {
  // The gateway's private signing key.
  jwk: JWK;
  // The node id.
  aud: string;
  instance: string;
  model: string;
  ttlS: number;
  // The kid of the data-plane key the node holds (its config file's), if any: tokens are
  // HS256 with that node's key when it is the signing key's, as the gateway signs them for a
  // node whose heartbeat says so, and ES256 otherwise.
  nodeKeyId?: string;
}

// The Node host's signer, told what the node's heartbeat would have told the gateway.
export async function benchSigner(jwt: DataPlaneJwtConfig): Promise<DataPlaneSigner> {
  const signer = await createNodeSigner(jwt.jwk, jwt.ttlS);
  signer.noteNodeKey(jwt.aud, jwt.nodeKeyId);
  return signer;
}

export interface LoadResult {
  concurrency: number;
  stream: boolean;
  windowMs: number;
  // Requests that finished inside the measuring window.
  completed: number;
  failed: number;
  errorSamples: string[];
  rps: number;
  // Time to the first content chunk (streaming only).
  ttftMs: Summary | null;
  latencyMs: Summary;
  // Content chunks per successful streamed answer, on average (a sanity check).
  chunksPerAnswer: number | null;
  // Content chunks received while the window was open, whichever request they belonged to:
  // the divisor of CPU per chunk (long answers straddle the window's edges).
  chunksInWindow: number;
  // CPU seconds the load generator itself used in the window.
  clientCpuS: number;
}

interface Outcome {
  ok: boolean;
  error?: string;
  ttftMs?: number;
  latencyMs: number;
  end: number;
  chunks: number;
}

const MAX_ERROR_BODY = 300;

export class LoadConfigError extends Error {
  override readonly name = 'LoadConfigError';
}

function checkConfig(config: LoadConfig): URL {
  const url = new URL(config.url);
  if (url.protocol !== 'http:' || !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
    throw new LoadConfigError(`load goes to loopback over http only, not ${config.url}`);
  }
  if (!Number.isInteger(config.concurrency) || config.concurrency < 1) {
    throw new LoadConfigError(`concurrency must be a positive integer: ${config.concurrency}`);
  }
  if (config.body.stream !== config.stream) {
    throw new LoadConfigError('body.stream and stream disagree');
  }
  return url;
}

function sendOne(
  agent: http.Agent,
  url: URL,
  headers: Record<string, string>,
  body: string,
  stream: boolean,
  timeoutMs: number,
  onChunks: (n: number) => void = () => undefined,
): Promise<Outcome> {
  const start = performance.now();
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let ttftMs: number | undefined;
    const finish = (ok: boolean, error?: string, chunks = 0) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const end = performance.now();
      resolve({ ok, error, ttftMs, latencyMs: end - start, end, chunks });
    };
    const req = http.request(
      {
        agent,
        method: 'POST',
        hostname: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        headers: {
          ...headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let text = '';
          res.on('data', (d: string) => {
            if (text.length < MAX_ERROR_BODY) text += d;
          });
          res.on('end', () =>
            finish(false, `HTTP ${res.statusCode}: ${text.slice(0, MAX_ERROR_BODY)}`),
          );
          res.on('error', (err) => finish(false, err.message));
          return;
        }
        if (stream) {
          const probe = new StreamProbe();
          res.on('data', (d: string) => {
            const before = probe.contentChunks;
            if (probe.push(d)) ttftMs = performance.now() - start;
            if (probe.contentChunks > before) onChunks(probe.contentChunks - before);
          });
          res.on('end', () => {
            if (probe.error) finish(false, `stream error: ${probe.error}`);
            else if (!probe.done) finish(false, 'stream ended without [DONE]');
            else if (probe.contentChunks === 0) finish(false, 'stream had no content');
            else finish(true, undefined, probe.contentChunks);
          });
        } else {
          let text = '';
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            try {
              const parsed = JSON.parse(text) as {
                choices?: { message?: { content?: unknown } }[];
              };
              const content = parsed.choices?.[0]?.message?.content;
              if (typeof content === 'string' && content.length > 0) finish(true);
              else finish(false, `no content in answer: ${text.slice(0, MAX_ERROR_BODY)}`);
            } catch {
              finish(false, `unparsable answer: ${text.slice(0, MAX_ERROR_BODY)}`);
            }
          });
        }
        res.on('error', (err) => finish(false, err.message));
        res.on('aborted', () => finish(false, 'response aborted'));
      },
    );
    const timer = setTimeout(() => {
      finish(false, `timed out after ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish(false, err.message));
    req.end(body);
  });
}

export async function runLoad(
  config: LoadConfig,
  events: { windowStart?: () => void; windowEnd?: () => void } = {},
): Promise<LoadResult> {
  const url = checkConfig(config);
  const signer = config.jwt ? await benchSigner(config.jwt) : undefined;
  const body = JSON.stringify(config.body);
  const agent = new http.Agent({
    keepAlive: true,
    maxSockets: config.concurrency,
    maxFreeSockets: config.concurrency,
  });

  const t0 = performance.now();
  const windowStart = t0 + config.warmupMs;
  const windowEnd = windowStart + config.durationMs;
  const inWindow: Outcome[] = [];
  let cpuAtStart = process.cpuUsage();
  let cpuInWindow = { user: 0, system: 0 };
  let chunksInWindow = 0;

  // The window's edges are announced exactly once each, even when the last request ends
  // just before its timer fires (the workers then finish first).
  let started = false;
  let ended = false;
  const openWindow = () => {
    if (started) return;
    started = true;
    cpuAtStart = process.cpuUsage();
    events.windowStart?.();
  };
  const closeWindow = () => {
    if (ended) return;
    openWindow();
    ended = true;
    cpuInWindow = process.cpuUsage(cpuAtStart);
    events.windowEnd?.();
  };
  const startTimer = setTimeout(openWindow, config.warmupMs);
  const endTimer = setTimeout(closeWindow, config.warmupMs + config.durationMs);

  const worker = async (): Promise<void> => {
    while (performance.now() < windowEnd) {
      const headers = { ...config.headers };
      if (signer && config.jwt) {
        const { aud, instance, model } = config.jwt;
        headers.authorization = `Bearer ${await signer.sign({ aud, jti: randomUUID(), instance, model, scope: 'inference' })}`;
      }
      const outcome = await sendOne(
        agent,
        url,
        headers,
        body,
        config.stream,
        config.timeoutMs,
        (n) => {
          if (started && !ended) chunksInWindow += n;
        },
      );
      if (outcome.end >= windowStart && outcome.end < windowEnd) inWindow.push(outcome);
      // A refused connection fails at once; do not spin on it.
      if (!outcome.ok && outcome.latencyMs < 1) await new Promise((r) => setTimeout(r, 10));
    }
  };
  try {
    await Promise.all(Array.from({ length: config.concurrency }, () => worker()));
  } finally {
    clearTimeout(startTimer);
    clearTimeout(endTimer);
    closeWindow();
    agent.destroy();
  }

  const ok = inWindow.filter((o) => o.ok);
  const failed = inWindow.filter((o) => !o.ok);
  const errorSamples = [...new Set(failed.map((o) => o.error ?? 'unknown'))].slice(0, 5);
  const ttfts = ok.flatMap((o) => (o.ttftMs === undefined ? [] : [o.ttftMs]));
  return {
    concurrency: config.concurrency,
    stream: config.stream,
    windowMs: config.durationMs,
    completed: ok.length,
    failed: failed.length,
    errorSamples,
    rps: ok.length / (config.durationMs / 1000),
    ttftMs: config.stream ? summarize(ttfts) : null,
    latencyMs: summarize(ok.map((o) => o.latencyMs)),
    chunksPerAnswer:
      config.stream && ok.length ? ok.reduce((a, o) => a + o.chunks, 0) / ok.length : null,
    chunksInWindow,
    clientCpuS: (cpuInWindow.user + cpuInWindow.system) / 1e6,
  };
}

export type LoadCommand = { type: 'run'; id: string; config: LoadConfig };
export type LoadEvent =
  | { type: 'ready' }
  | { type: 'window-start'; id: string }
  | { type: 'window-end'; id: string }
  | { type: 'result'; id: string; result: LoadResult }
  | { type: 'error'; id: string; message: string };

function emit(event: LoadEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function serve(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  emit({ type: 'ready' });
  // One run at a time, in order: runs must not overlap or they would measure each other.
  for await (const line of lines) {
    if (!line.trim()) continue;
    let id = '?';
    try {
      const command = JSON.parse(line) as LoadCommand;
      id = command.id;
      const result = await runLoad(command.config, {
        windowStart: () => emit({ type: 'window-start', id }),
        windowEnd: () => emit({ type: 'window-end', id }),
      });
      emit({ type: 'result', id, result });
    } catch (err) {
      emit({ type: 'error', id, message: err instanceof Error ? err.message : String(err) });
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
