// Forwards one OpenAI request to a node and turns the answer into the client's response.
//
// Retry policy. A request moves to another ready instance (at most MAX_ATTEMPTS instances
// in all, each tried once) only when nothing of the answer has reached the client yet and
// the failure says the instance did not serve it:
//   - the connection failed (fetch threw, and not because the client went away), or
//   - the node answered 5xx (or a 3xx, which nodes never send) before any body byte, or
//   - the node refused the gateway's JWT (401/403: a node with a stale key set, say); that
//     is the node's problem, not the client's, so it never reaches the client as a 401, or
//   - a stream failed before its first content (relay-core.ts, RelayStart): the client's status
//     and headers wait for that content, so an engine that dies during prefill, or sends an
//     error event instead of tokens, is failed over like one that answered 5xx.
// Inference has no side effect beyond compute, so replaying a request that an instance
// refused with a 5xx is safe. Never retried: a client abort, a 4xx (the request itself is
// wrong and would fail anywhere), a timeout (the node may still be generating, and a
// replay would double the load), and anything after the response started.
// When every attempt failed the client gets 502, or 503 when there was no instance.
import { ApiError, badGateway, unavailable } from '../errors.ts';
import type { Attempt } from '../routing/live.ts';
import type { Target } from '../routing/table.ts';
import {
  isObject,
  parseObject,
  readError,
  readUsage,
  type ChunkInfo,
  type JsonObject,
} from '../sse/inspect.ts';
import type { UsageMeter } from '../usage/meter.ts';
import type { NodeAnswer, NodeTransport, Signer } from '../types.ts';
import { REQUEST_ID_HEADER } from '../../../schema/contracts.ts';
import type { OpenAIPath } from '../../../schema/endpoints.ts';
import { AnswerTooLargeError, readTextCapped } from './read-capped.ts';
import type { RelayStart } from './relay-core.ts';
import { relayNode, type DirectAnswer } from './relay-node.ts';
import { relaySse } from './relay.ts';
import type { Upload } from './upload.ts';
import { UpstreamAbort } from './upstream.ts';

export const MAX_ATTEMPTS = 3;
// A streamed answer may pause between chunks for at most this long (a long prefill under
// load included); then the stream is ended with an error.
export const STREAM_IDLE_TIMEOUT_MS = 5 * 60_000;
// A non-streamed answer (headers and body) must arrive within this long; the whole
// generation happens before its first byte. Node's fetch (undici) has the same 300 s limit
// on response headers built in, so both hosts behave alike; clients wanting longer
// generations stream them.
export const ANSWER_TIMEOUT_MS = 5 * 60_000;
// Status recorded for a request whose client went away before any answer (nginx's
// "client closed request"); nobody receives it.
export const CLIENT_CLOSED_STATUS = 499;
// A non-streamed answer (a chat completion, or embeddings: 2,048 inputs of 3,072 dimensions
// are about 70 MB of JSON) is read whole to meter it; a larger one is refused with 502
// rather than buffered without bound.
export const MAX_ANSWER_BYTES = 128 * 1024 * 1024;

export type { OpenAIPath };

// Streams that carry usage only when asked (stream_options.include_usage); the others
// (Responses) always end with it.
const ASKS_STREAM_USAGE: ReadonlySet<OpenAIPath> = new Set([
  '/v1/chat/completions',
  '/v1/completions',
]);

export interface ForwardDeps {
  signer: Signer;
  transport: NodeTransport;
  // abortGraceMs: how long a stream whose client left after the engine finished is read
  // on for its usage chunk (relay-core.ts, ABORT_GRACE_MS).
  timeouts?: { streamIdleMs?: number; answerMs?: number; abortGraceMs?: number };
  // Largest non-streamed answer read from a node, in bytes. Default MAX_ANSWER_BYTES.
  maxAnswerBytes?: number;
}

// What the proxy needs to know of an instance.
export type ForwardTarget = Pick<Target, 'instanceId' | 'deploymentId' | 'nodeId' | 'advertiseUrl'>;

export interface ForwardRequest {
  requestId: string;
  path: OpenAIPath;
  model: string;
  // The client's validated body; forwarded as is except for stream_options.
  body: JsonObject;
  stream: boolean;
  // Aborts when the client goes away before the response is handed over.
  clientSignal: AbortSignal;
  meter: UsageMeter;
  // The next instance to try, never one in `tried`; undefined when none is left.
  pick(tried: ReadonlySet<string>): ForwardTarget | undefined;
  // Called as each attempt starts; the attempt is told how it ended (the router's live
  // figures and circuit breakers learn from it).
  attempt?(target: ForwardTarget): Attempt;
  // Reads one block of this endpoint's stream for the meter (relay-core.ts); default: chat's.
  inspect?: (json: JsonObject) => ChunkInfo;
  // Meters what a whole (non-streamed) 200 answer says besides its token usage (images
  // made, audio seconds).
  onAnswer?: (json: JsonObject) => void;
  // The answer may be other than a JSON object (an array; a transcription as text, srt or
  // vtt): passed on as is, with its content type.
  rawAnswer?: boolean;
  // A body streamed through as it arrives instead of `body` (multipart uploads).
  upload?: Upload;
  // The host sends streamed answers itself (AppDeps.directStreams): a direct node's stream
  // is relayed with node:http's own events and comes back as Forwarded.direct.
  direct?: boolean;
}

export interface Forwarded {
  // With `direct`, the stream's status and headers only (no body): the host sends the body.
  response: Response;
  direct?: DirectAnswer;
  // Settles when the answer is over (a stream ended or was cancelled); the meter is final.
  done: Promise<void>;
  // The attempts that failed before this answer ('<node id>: <why>'), also logged.
  failures: readonly string[];
}

const JSON_HEADERS = { 'content-type': 'application/json' };

// Streams always ask the engine for usage (engines differ in their default); whether the
// client asked decides if the client sees it.
function upstreamBody(req: ForwardRequest): { payload: string; clientWantsUsage: boolean } {
  if (!req.stream) return { payload: JSON.stringify(req.body), clientWantsUsage: false };
  // Nothing to ask and nothing to hide.
  if (!ASKS_STREAM_USAGE.has(req.path)) {
    return { payload: JSON.stringify(req.body), clientWantsUsage: true };
  }
  const options = isObject(req.body.stream_options) ? req.body.stream_options : {};
  const clientWantsUsage = options.include_usage === true;
  const body = { ...req.body, stream_options: { ...options, include_usage: true } };
  return { payload: JSON.stringify(body), clientWantsUsage };
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

export async function forward(deps: ForwardDeps, req: ForwardRequest): Promise<Forwarded> {
  const { meter } = req;
  const answerMs = deps.timeouts?.answerMs ?? ANSWER_TIMEOUT_MS;
  const { payload, clientWantsUsage } = upstreamBody(req);
  const tried = new Set<string>();
  const failures: string[] = [];
  // What either relay (Node or Web streams) is told of an attempt's stream.
  const relayOptions = (upstream: UpstreamAbort) => ({
    clientWantsUsage,
    meter,
    upstream,
    idleTimeoutMs: deps.timeouts?.streamIdleMs ?? STREAM_IDLE_TIMEOUT_MS,
    abortGraceMs: deps.timeouts?.abortGraceMs,
    inspect: req.inspect,
  });

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    const target = req.pick(tried);
    if (!target) break;
    const body = req.upload ? req.upload.body() : payload;
    if (body === undefined) {
      failures.push('the upload was partly sent to a failed instance and cannot be replayed');
      break;
    }
    tried.add(target.instanceId);
    meter.routedTo(target);
    const report = req.attempt?.(target);
    const upstream = new UpstreamAbort(req.clientSignal);
    upstream.arm(answerMs);
    let answered: Response | NodeAnswer;
    try {
      const token = await deps.signer.sign({
        aud: target.nodeId,
        jti: req.requestId,
        instance: target.instanceId,
        model: req.model,
        scope: 'inference',
      });
      const node = { id: target.nodeId, advertiseUrl: target.advertiseUrl };
      const init: RequestInit & { signal: AbortSignal; duplex?: 'half' } = {
        method: 'POST',
        headers: {
          'content-type': req.upload?.contentType ?? 'application/json',
          accept: req.stream ? 'text/event-stream' : 'application/json',
          authorization: `Bearer ${token}`,
          [REQUEST_ID_HEADER]: req.requestId,
        },
        body,
        signal: upstream.signal,
      };
      // fetch sends a stream body only with `duplex: 'half'` (workerd ignores it).
      if (req.upload) init.duplex = 'half';
      const opened =
        req.direct === true && req.stream && !req.upload
          ? deps.transport.open?.(node, req.path, init)
          : undefined;
      answered = await (opened ?? deps.transport.fetch(node, req.path, init));
    } catch (err) {
      upstream.release();
      report?.end(upstream.clientAborted ? 'aborted' : 'failed');
      if (upstream.clientAborted) return clientGone(meter, failures);
      if (upstream.timedOut || isFetchTimeout(err)) throw timeout(meter, err);
      failures.push(`${target.nodeId}: ${describe(err)}`);
      continue;
    }
    if (!isWebAnswer(answered) && isNodeStream(answered)) {
      // A 200 event stream from a direct node on the Node host: as below, without Web streams.
      const nodeStream = answered;
      meter.status = nodeStream.status;
      meter.stream = true;
      upstream.disarm();
      const relay = relayNode(nodeStream.body, relayOptions(upstream));
      const started = await relay.start();
      const next = afterStart(started, meter, report, failures, target);
      if (next === 'retry') continue;
      if (next !== 'live') return next;
      noteFailover(req, target, failures);
      return {
        response: new Response(null, {
          status: 200,
          headers: streamHeaders(nodeStream.header('content-type')),
        }),
        direct: relay,
        done: relay.done.then(() => report?.end(streamOutcome(meter), meter.firstTokenMs)),
        failures,
      };
    }
    const res = isWebAnswer(answered) ? answered : answered.toResponse();
    if (retryable(res.status)) {
      report?.end('failed');
      failures.push(`${target.nodeId}: HTTP ${res.status}`);
      upstream.release();
      await res.body?.cancel().catch(() => undefined);
      continue;
    }

    meter.status = res.status;
    // An upload's `stream` field may come after the gateway stopped reading its form: the
    // answer's content type says whether it streams.
    if ((req.stream || req.upload !== undefined) && res.ok && res.body && isEventStream(res)) {
      meter.stream = true;
      // Headers are here; from now on only silence between chunks counts. Until the first
      // content the client has nothing, so a failure still moves the request on; after it
      // the relay decides what a client leaving means for the upstream call.
      upstream.disarm();
      const relay = relaySse(res.body, {
        ...relayOptions(upstream),
        clientSignal: req.clientSignal,
      });
      const started = await relay.start();
      const next = afterStart(started, meter, report, failures, target);
      if (next === 'retry') continue;
      if (next !== 'live') return next;
      const headers = streamHeaders(res.headers.get('content-type'));
      const done = relay.done.then(() => report?.end(streamOutcome(meter), meter.firstTokenMs));
      noteFailover(req, target, failures);
      return {
        response: new Response(relay.stream, { status: 200, headers }),
        done,
        failures,
      };
    }
    try {
      const text = await readTextCapped(res, deps.maxAnswerBytes ?? MAX_ANSWER_BYTES);
      // Answered: a 4xx says the request was wrong, not the instance.
      report?.end('ok');
      noteFailover(req, target, failures);
      return {
        response: res.ok ? answer(meter, res, text, req) : clientError(meter, res, text),
        done: Promise.resolve(),
        failures,
      };
    } catch (err) {
      report?.end(upstream.clientAborted ? 'aborted' : 'failed');
      if (upstream.clientAborted) return clientGone(meter, failures);
      if (upstream.timedOut || isFetchTimeout(err)) throw timeout(meter, err);
      if (err instanceof AnswerTooLargeError) {
        meter.fail('upstream_error', err.code);
        throw badGateway(err.message, err.code);
      }
      meter.fail('upstream_error', 'upstream_error');
      throw badGateway(`the node failed while answering: ${describe(err)}`);
    } finally {
      upstream.release();
    }
  }

  if (tried.size === 0) {
    meter.fail('error', 'no_ready_instance');
    throw unavailable(`no ready instance of model '${req.model}' is available`);
  }
  meter.fail('upstream_error', 'upstream_error');
  throw badGateway(`no instance of model '${req.model}' could answer (${failures.join('; ')})`);
}

// What a stream's start means for the attempt: 'live' (the client gets it), 'retry' (the
// next instance), or the request's end (the client left; a timeout is thrown).
function afterStart(
  started: RelayStart,
  meter: UsageMeter,
  report: Attempt | undefined,
  failures: string[],
  target: ForwardTarget,
): 'live' | 'retry' | Forwarded {
  switch (started.kind) {
    case 'live':
      return 'live';
    case 'client_gone':
      report?.end('aborted');
      return clientGone(meter, failures);
    case 'timed_out':
      report?.end('failed');
      throw timeout(meter, started.error);
    case 'failed':
      report?.end('failed');
      failures.push(`${target.nodeId}: ${started.reason}`);
      meter.resetAttempt();
      return 'retry';
  }
}

function streamHeaders(contentType: string | null | undefined): Headers {
  return new Headers({
    'content-type': contentType ?? 'text/event-stream',
    'cache-control': 'no-cache',
    // Proxies in front of the gateway (nginx) must not buffer the stream either.
    'x-accel-buffering': 'no',
  });
}

function isWebAnswer(answer: Response | NodeAnswer): answer is Response {
  return !('toResponse' in answer);
}

// A direct node's answer that the Node relay takes: a 2xx event stream.
function isNodeStream(answer: NodeAnswer): boolean {
  const type = answer.header('content-type')?.toLowerCase() ?? '';
  return answer.status >= 200 && answer.status < 300 && type.startsWith('text/event-stream');
}

// undici's own header/body timeouts surface as a failed fetch; they are timeouts all the
// same (the node may still be generating), so they are not retried.
function isFetchTimeout(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  const code =
    typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
}

// How a stream that started went for its instance: an error before any output counts
// against it, a client leaving says nothing, anything else was served.
function streamOutcome(meter: UsageMeter): 'ok' | 'failed' | 'aborted' {
  if (meter.outcome === 'client_aborted') return 'aborted';
  return meter.failed && meter.firstTokenMs === null ? 'failed' : 'ok';
}

function retryable(status: number): boolean {
  return status >= 500 || (status >= 300 && status < 400) || status === 401 || status === 403;
}

function isEventStream(res: Response): boolean {
  return res.headers.get('content-type')?.toLowerCase().startsWith('text/event-stream') ?? false;
}

// A whole (non-streamed) answer: metered from its usage, passed on unchanged.
function answer(
  meter: UsageMeter,
  res: Response,
  text: string,
  req: Pick<ForwardRequest, 'onAnswer' | 'rawAnswer'>,
): Response {
  const json = parseObject(text);
  if (!json && req.rawAnswer) {
    const type = res.headers.get('content-type') ?? 'application/octet-stream';
    return new Response(text, { status: res.status, headers: { 'content-type': type } });
  }
  if (!json) {
    meter.fail('upstream_error', 'upstream_invalid_response');
    throw badGateway(
      'the node answered with something other than a JSON object',
      'upstream_invalid_response',
    );
  }
  meter.setUsage(readUsage(json.usage));
  req.onAnswer?.(json);
  const error = readError(json);
  if (error) meter.fail('error', error.code ?? 'upstream_error');
  return new Response(text, { status: res.status, headers: JSON_HEADERS });
}

// The engine refused the request (4xx): its answer is already OpenAI-shaped and goes to
// the client as is; anything else is wrapped into that shape.
function clientError(meter: UsageMeter, res: Response, text: string): Response {
  const json = parseObject(text);
  const error = readError(json);
  meter.fail('error', error?.code ?? `http_${res.status}`);
  if (json && error) return new Response(text, { status: res.status, headers: JSON_HEADERS });
  const wrapped = {
    error: {
      message: text.slice(0, 1000) || `the engine answered HTTP ${res.status}`,
      type: 'invalid_request_error',
      param: null,
      code: 'upstream_rejected',
    },
  };
  return new Response(JSON.stringify(wrapped), { status: res.status, headers: JSON_HEADERS });
}

function clientGone(meter: UsageMeter, failures: readonly string[]): Forwarded {
  meter.status = CLIENT_CLOSED_STATUS;
  meter.fail('client_aborted', null);
  return {
    response: new Response(null, { status: CLIENT_CLOSED_STATUS }),
    done: Promise.resolve(),
    failures,
  };
}

// An answer that came from another instance after failures: operators see which node
// failed and why (a connect timeout, a refused connection, a 5xx), though the client did not.
function noteFailover(req: ForwardRequest, target: ForwardTarget, failures: readonly string[]) {
  if (failures.length === 0) return;
  console.warn(
    `request ${req.requestId}: answered by node ${target.nodeId} after failed attempts (${failures.join('; ')})`,
  );
}

function timeout(meter: UsageMeter, err: unknown): ApiError {
  meter.fail('upstream_error', 'upstream_timeout');
  return new ApiError(
    504,
    'server_error',
    `the node did not answer in time (${describe(err)})`,
    'upstream_timeout',
  );
}
