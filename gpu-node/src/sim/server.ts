// fleetgate-sim: an OpenAI-compatible engine SIMULATOR for tests, demos and benchmarks,
// in the spirit of llm-d's inference simulator. It runs no model: answers are words drawn
// from a fixed vocabulary by a seeded generator, timed by a latency model (engine.ts),
// and formatted byte for byte as vLLM's OpenAI server formats them. It speaks node:http
// directly, without a framework, because benchmarks run hundreds of streams through it
// on a small machine and it must not be what they measure.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { EmbeddingAnswer, TextAnswer, type Answer, type Fault, type Outcome } from './answers.ts';
import { DEFAULT_EMBEDDING_DIMENSIONS } from './embeddings.ts';
import { Engine } from './engine.ts';
import { sendError } from './errors.ts';
import { renderMetrics } from './metrics.ts';
import { resolveOptions, servedNames, type SimOptions } from './options.ts';
import { combineSeeds, createRng, hashString, type Rng } from './prng.ts';
import {
  ChatRequestSchema,
  CompletionRequestSchema,
  EmbeddingRequestSchema,
  chatPrompt,
  completionPrompt,
  embeddingInputs,
  planOutput,
} from './requests.ts';
import {
  EXTRA_ROUTES,
  audio,
  contentTypeOf,
  images,
  rerank,
  score,
  type ExtraContext,
  type ExtraRoute,
} from './extra.ts';
import { ResponsesAnswer, ResponsesRequestSchema, responsesPrompt } from './responses.ts';
import { analyzePrompt, analyzeTokenIds } from './tokenizer.ts';
import {
  MAX_AUDIO_BYTES,
  MAX_BODY_BYTES,
  RequestError,
  parseDelay,
  parseFault,
  readBody,
  validate,
} from './request-input.ts';

export type { SimOptions } from './options.ts';

export const OWNED_BY = 'fleetgate-sim';

export interface SimServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

type Route = 'chat' | 'completion' | 'embedding' | 'responses';

const POST_ROUTES: Record<string, Route> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
  '/v1/embeddings': 'embedding',
  '/v1/responses': 'responses',
};

export class Simulator {
  readonly engine: Engine;
  private readonly names: ReadonlySet<string>;
  private readonly metricsName: string;
  private readonly failureRng: Rng;
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly readyAt: number;
  private readonly active = new Set<Answer>();
  private readonly delayed = new Map<Answer, NodeJS.Timeout>();
  private readonly finished = new Map<string, number>();
  private submitted = 0;
  private closed = false;

  constructor(readonly options: SimOptions) {
    const names = servedNames(options);
    this.names = new Set(names);
    this.metricsName = names[0] ?? options.model;
    this.failureRng = createRng(combineSeeds(options.seed, 0xfa11));
    this.readyAt = performance.now() + options.startupDelayMs;
    this.engine = new Engine({
      ttftMs: options.ttftMs,
      prefillMsPerToken: options.prefillMsPerToken,
      itlMs: options.itlMs,
      jitter: options.jitter,
      maxNumSeqs: options.maxNumSeqs,
      prefixCacheTokens: options.prefixCacheTokens,
      // With the prefix cache off, a KV cache that fits every sequence at a typical length.
      kvCapacityTokens:
        options.prefixCacheTokens > 0 ? options.prefixCacheTokens : options.maxNumSeqs * 2048,
    });
  }

  ready(): boolean {
    return performance.now() >= this.readyAt;
  }

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (this.options.logRequests && path !== '/health' && path !== '/metrics') {
      this.logWhenAnswered(req, res, path);
    }
    const extra = EXTRA_ROUTES[path];
    if (extra !== undefined) {
      if (req.method !== 'POST') return this.methodNotAllowed(res, 'POST');
      void this.serveExtra(extra, req, res);
      return;
    }
    const route = POST_ROUTES[path];
    if (route !== undefined) {
      if (req.method !== 'POST') return this.methodNotAllowed(res, 'POST');
      void this.serve(route, req, res);
      return;
    }
    if (path === '/health' || path === '/v1/models' || path === '/metrics') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return this.methodNotAllowed(res, 'GET');
      if (path === '/health') return this.health(res);
      if (path === '/v1/models') return this.models(res);
      return this.metrics(res);
    }
    sendError(res, 404, `no route for ${req.method ?? 'GET'} ${path}`);
  };

  // The request log line, in the spirit of vLLM's: written when the answer has ended.
  private logWhenAnswered(req: IncomingMessage, res: ServerResponse, path: string): void {
    const started = performance.now();
    const header = req.headers['x-request-id'];
    const id = typeof header === 'string' ? header.slice(0, 128).replace(/[^\w.:-]/g, '?') : '-';
    res.once('close', () => {
      const ms = Math.round(performance.now() - started);
      console.log(
        `fleetgate-sim: ${req.method ?? 'GET'} ${path} ${res.statusCode} ${ms} ms request_id=${id}`,
      );
    });
  }

  // Ends every answer in flight (the server is closing).
  shutdown(): void {
    this.closed = true;
    for (const timer of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.engine.stop();
    for (const answer of [...this.active]) answer.shutdown();
  }

  private methodNotAllowed(res: ServerResponse, allow: string): void {
    res.setHeader('allow', allow);
    sendError(res, 405, 'method not allowed');
  }

  private health(res: ServerResponse): void {
    if (!this.ready()) {
      sendError(res, 503, 'the engine is starting (simulated startup delay)');
      return;
    }
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  }

  private models(res: ServerResponse): void {
    const data = [...this.names].map((id) => ({
      id,
      object: 'model',
      created: this.created,
      owned_by: OWNED_BY,
      root: this.options.model,
      parent: null,
      max_model_len: null,
    }));
    const body = JSON.stringify({ object: 'list', data });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  private metrics(res: ServerResponse): void {
    const body = renderMetrics(this.metricsName, {
      stats: this.engine.stats(),
      ttft: this.engine.ttft,
      e2e: this.engine.e2e,
      finished: this.finished,
    });
    res.writeHead(200, {
      'content-type': 'text/plain; version=0.0.4; charset=utf-8',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  private async serve(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const read = await readBody(req);
      if (!read.ok) throw new RequestError(read.status, read.message);
      if (this.closed) {
        res.shouldKeepAlive = false;
        throw new RequestError(503, 'the engine simulator is shutting down');
      }
      if (!this.ready())
        throw new RequestError(503, 'the engine is starting (simulated startup delay)');
      let body: unknown;
      try {
        body = JSON.parse(read.text);
      } catch (err) {
        throw new RequestError(400, `invalid JSON body: ${(err as Error).message}`);
      }
      const answer =
        route === 'embedding'
          ? this.embedding(req, res, body)
          : route === 'responses'
            ? this.responses(req, res, body)
            : this.text(route, req, res, body);
      if (answer) this.start(answer, parseDelay(req));
    } catch (err) {
      if (err instanceof RequestError) sendError(res, err.status, err.message, err.param);
      else {
        console.error('fleetgate-sim: request failed:', err);
        sendError(res, 500, 'internal error in the engine simulator');
      }
    }
  }

  private async serveExtra(route: ExtraRoute, req: IncomingMessage, res: ServerResponse) {
    const audioRoute = route === 'transcription' || route === 'translation';
    try {
      const read = await readBody(req, audioRoute ? MAX_AUDIO_BYTES : MAX_BODY_BYTES);
      if (!read.ok) throw new RequestError(read.status, read.message);
      if (this.closed || !this.ready()) {
        throw new RequestError(503, 'the engine is not ready (starting or shutting down)');
      }
      const ctx: ExtraContext = {
        seed: this.options.seed,
        checkModel: (model) => this.checkModel(model),
        injectFault: () => {
          if (this.injectedFault(req) !== 'none') {
            throw new RequestError(500, 'simulated failure (x-sim-error)');
          }
        },
        invalid: (message, param) => new RequestError(400, message, param),
      };
      if (audioRoute) return audio(route, read.bytes, contentTypeOf(req), res, ctx);
      let body: unknown;
      try {
        body = JSON.parse(read.text);
      } catch (err) {
        throw new RequestError(400, `invalid JSON body: ${(err as Error).message}`);
      }
      if (route === 'images') images(body, res, ctx);
      else if (route === 'rerank') rerank(body, res, ctx);
      else score(body, res, ctx);
    } catch (err) {
      if (err instanceof RequestError) sendError(res, err.status, err.message, err.param);
      else {
        console.error('fleetgate-sim: request failed:', err);
        sendError(res, 500, 'internal error in the engine simulator');
      }
    }
  }

  private checkModel(model: string | null | undefined): string {
    const name = model ?? this.metricsName;
    if (!this.names.has(name)) {
      throw new RequestError(404, `The model \`${name}\` does not exist.`, 'model');
    }
    return name;
  }

  // Injected failures that answer before any work: x-sim-error with a status, and the
  // configured failure rate. Returns the fault to inject later, if any.
  private injectedFault(req: IncomingMessage): Fault {
    const parsed = parseFault(req);
    if ('status' in parsed) {
      throw new RequestError(parsed.status, `simulated error ${parsed.status} (x-sim-error)`);
    }
    const rate = this.options.failureRate;
    if (rate > 0 && this.failureRng() < rate) {
      throw new RequestError(500, 'simulated engine failure (failure_rate)');
    }
    return parsed.fault;
  }

  private text(
    route: 'chat' | 'completion',
    req: IncomingMessage,
    res: ServerResponse,
    raw: unknown,
  ): Answer {
    let model: string;
    let promptText: string;
    let promptIds: number[] | undefined;
    let requestedMax: number | null | undefined;
    let stream: boolean;
    let includeUsage: boolean;
    let requestSeed: number;
    let n: number | null | undefined;
    if (route === 'chat') {
      const body = validate(ChatRequestSchema, raw);
      model = this.checkModel(body.model);
      promptText = chatPrompt(body.messages);
      requestedMax = body.max_completion_tokens ?? body.max_tokens;
      stream = body.stream ?? false;
      includeUsage = body.stream_options?.include_usage ?? false;
      requestSeed = body.seed ?? 0;
      n = body.n;
      if (body.stream_options && !stream) {
        throw new RequestError(
          400,
          'Stream options can only be defined when `stream=True`.',
          'stream_options',
        );
      }
    } else {
      const body = validate(CompletionRequestSchema, raw);
      model = this.checkModel(body.model);
      const prompt = completionPrompt(body.prompt);
      if (typeof prompt === 'string') promptText = prompt;
      else {
        promptIds = prompt;
        promptText = prompt.join(',');
      }
      requestedMax = body.max_tokens;
      stream = body.stream ?? false;
      includeUsage = body.stream_options?.include_usage ?? false;
      requestSeed = body.seed ?? 0;
      n = body.n;
      if (body.stream_options && !stream) {
        throw new RequestError(
          400,
          'Stream options can only be defined when `stream=True`.',
          'stream_options',
        );
      }
    }
    if (n !== null && n !== undefined && n !== 1) {
      throw new RequestError(400, 'the engine simulator answers one choice per request (n=1)', 'n');
    }
    if (requestedMax !== null && requestedMax !== undefined && requestedMax < 1) {
      throw new RequestError(
        400,
        `max_tokens must be at least 1, got ${requestedMax}.`,
        'max_tokens',
      );
    }
    const fault = this.injectedFault(req);
    const prompt = promptIds ? analyzeTokenIds(promptIds) : analyzePrompt(promptText);
    const textSeed = combineSeeds(
      combineSeeds(this.options.seed, hashString(promptText)),
      requestSeed,
    );
    const plan = planOutput(requestedMax, this.options.maxTokens, textSeed);
    return new TextAnswer(
      {
        res,
        id: `${route === 'chat' ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`,
        created: Math.floor(Date.now() / 1000),
        model,
        fault,
        promptTokens: prompt.tokens,
        blockHashes: prompt.blockHashes,
        timingSeed: combineSeeds(textSeed, 0x7e57),
        settle: this.settle,
      },
      route,
      stream,
      includeUsage,
      plan,
      textSeed,
    );
  }

  private responses(req: IncomingMessage, res: ServerResponse, raw: unknown): Answer {
    const body = validate(ResponsesRequestSchema, raw);
    const model = this.checkModel(body.model);
    const fault = this.injectedFault(req);
    const promptText = responsesPrompt(body);
    const prompt = analyzePrompt(promptText);
    const textSeed = combineSeeds(
      combineSeeds(this.options.seed, hashString(promptText)),
      body.seed ?? 0,
    );
    const plan = planOutput(body.max_output_tokens, this.options.maxTokens, textSeed);
    return new ResponsesAnswer(
      {
        res,
        id: `resp_${randomUUID().replaceAll('-', '')}`,
        created: Math.floor(Date.now() / 1000),
        model,
        fault,
        promptTokens: prompt.tokens,
        blockHashes: prompt.blockHashes,
        timingSeed: combineSeeds(textSeed, 0x7e57),
        settle: this.settle,
      },
      body.stream ?? false,
      plan,
      textSeed,
      { instructions: body.instructions ?? null, maxOutputTokens: body.max_output_tokens ?? null },
    );
  }

  private embedding(req: IncomingMessage, res: ServerResponse, raw: unknown): Answer {
    const body = validate(EmbeddingRequestSchema, raw);
    const model = this.checkModel(body.model);
    const fault = this.injectedFault(req);
    const inputs = embeddingInputs(body.input);
    let promptTokens = 0;
    let seed = this.options.seed;
    for (const input of inputs) {
      if (typeof input === 'string') {
        promptTokens += analyzePrompt(input).tokens;
        seed = combineSeeds(seed, hashString(input));
      } else {
        promptTokens += input.length;
      }
    }
    return new EmbeddingAnswer(
      {
        res,
        id: `embd-${randomUUID().replaceAll('-', '')}`,
        created: Math.floor(Date.now() / 1000),
        model,
        fault,
        promptTokens,
        blockHashes: [],
        timingSeed: seed,
        settle: this.settle,
      },
      inputs,
      body.dimensions ?? DEFAULT_EMBEDDING_DIMENSIONS,
      body.encoding_format === 'base64',
    );
  }

  private start(answer: Answer, delayMs: number): void {
    this.active.add(answer);
    const go = (): void => {
      this.delayed.delete(answer);
      answer.begin();
      this.submitted += 1;
      const { hangAfterRequests, hangMs } = this.options;
      if (hangAfterRequests > 0 && this.submitted === hangAfterRequests + 1) {
        this.engine.hang(hangMs > 0 ? hangMs : Infinity);
      }
      answer.seq = this.engine.submit(answer);
    };
    if (delayMs > 0) this.delayed.set(answer, setTimeout(go, delayMs));
    else go();
  }

  private readonly settle = (answer: Answer, outcome: Outcome): void => {
    this.active.delete(answer);
    const timer = this.delayed.get(answer);
    if (timer !== undefined) {
      clearTimeout(timer);
      this.delayed.delete(answer);
    }
    if (answer.seq) this.engine.cancel(answer.seq);
    if (outcome !== 'error') this.finished.set(outcome, (this.finished.get(outcome) ?? 0) + 1);
  };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function startSim(
  opts: Partial<SimOptions> & { model: string; port?: number; host?: string },
): Promise<SimServer> {
  const options = resolveOptions(opts);
  const sim = new Simulator(options);
  const server = createServer(sim.handle);
  const address = await listen(server, options.port, options.host);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        sim.shutdown();
        // Connections still busy after a grace period are cut rather than waited on.
        const force = setTimeout(() => server.closeAllConnections(), 2000);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
