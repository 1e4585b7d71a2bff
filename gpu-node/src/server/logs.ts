// GET /fleetgate/v1/instances/{id}/logs?tail=N: an engine's last output lines, for the
// gateway's admin API. Tail limits and the answer's size are the contract's
// (schema/contracts.ts), so whatever the gateway asks for, the node can answer.
// With &follow=true the answer is NDJSON that goes on with each new line (Docker's follow
// mode, or the process runtime's output) until the engine stops or the gateway hangs up;
// lines are cut to LOG_LINE_MAX_BYTES, at most LOG_FOLLOW_MAX_STREAMS run at once, and a
// reader that stops reading is dropped once LOG_FOLLOW_BUFFER_BYTES wait for it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  LOG_ANSWER_MAX_BYTES,
  LOG_FOLLOW_MAX_STREAMS,
  LOG_LINE_MAX_BYTES,
  NODE_LOGS_PATH,
  LOG_TAIL_DEFAULT_LINES,
  LOG_TAIL_MAX_LINES,
} from '../../../schema/contracts.ts';
import type { Supervisor } from '../control/supervisor.ts';
import type { DataPlaneVerifier } from './auth.ts';
import { HttpError, sendJson } from './errors.ts';

// Where the gateway reads an instance's logs.
export const LOGS_PATH = NODE_LOGS_PATH;

// Written but not yet taken by the gateway; beyond this the follow ends.
export const LOG_FOLLOW_BUFFER_BYTES = 1024 * 1024;

// How many follows run now (the node-wide bound).
export class FollowGate {
  private open = 0;
  constructor(private readonly max = LOG_FOLLOW_MAX_STREAMS) {}
  enter(): boolean {
    if (this.open >= this.max) return false;
    this.open += 1;
    return true;
  }
  leave(): void {
    this.open = Math.max(0, this.open - 1);
  }
}

// A line as the follow sends it: at most LOG_LINE_MAX_BYTES of UTF-8 (cut on a character).
export function cutLine(line: string, maxBytes = LOG_LINE_MAX_BYTES): string {
  if (line.length * 3 <= maxBytes || Buffer.byteLength(line) <= maxBytes) return line;
  const cut = Buffer.from(line).subarray(0, maxBytes).toString('utf8');
  // A character split by the cut decodes as U+FFFD; drop it.
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}

// `{"object":"list","data":[]}`
const ANSWER_OVERHEAD_BYTES = 27;

export function parseTail(param: string | null): number {
  if (param === null) return LOG_TAIL_DEFAULT_LINES;
  const tail = Number(param);
  if (!/^\d+$/.test(param) || tail < 1 || tail > LOG_TAIL_MAX_LINES) {
    throw new HttpError(
      400,
      'invalid_request_error',
      `tail must be an integer from 1 to ${LOG_TAIL_MAX_LINES}`,
      'invalid_tail',
    );
  }
  return tail;
}

// The newest lines whose JSON answer stays within maxBytes; older lines are left out.
export function fitLines(lines: readonly string[], maxBytes = LOG_ANSWER_MAX_BYTES): string[] {
  let size = ANSWER_OVERHEAD_BYTES;
  let first = lines.length;
  while (first > 0) {
    const line = lines[first - 1] ?? '';
    // The line as a JSON string, and the comma before it.
    const cost = Buffer.byteLength(JSON.stringify(line)) + (first === lines.length ? 0 : 1);
    if (size + cost > maxBytes) break;
    size += cost;
    first -= 1;
  }
  return lines.slice(first);
}

export async function engineLogs(
  deps: { supervisor: Supervisor; verifier: DataPlaneVerifier; follows: FollowGate },
  req: IncomingMessage,
  res: ServerResponse,
  instanceId: string,
  params: URLSearchParams,
): Promise<void> {
  const claims = await deps.verifier.verify(req.headers.authorization, {
    method: req.method ?? '',
    path: new URL(req.url ?? '/', 'http://node').pathname,
  });
  if (claims.instance !== instanceId) {
    throw new HttpError(
      401,
      'authentication_error',
      'token is for another instance',
      'invalid_node_token',
    );
  }
  const tail = parseTail(params.get('tail'));
  const follow = params.get('follow');
  if (follow !== null && follow !== 'true' && follow !== 'false') {
    throw new HttpError(
      400,
      'invalid_request_error',
      'follow must be true or false',
      'invalid_follow',
    );
  }
  if (follow === 'true') {
    await followEngineLogs(deps, res, instanceId, tail);
    return;
  }
  const lines = await deps.supervisor.logs(instanceId, tail);
  if (!lines) {
    throw new HttpError(
      404,
      'not_found_error',
      `instance '${instanceId}' does not run on this node`,
      'instance_not_found',
    );
  }
  sendJson(res, 200, { object: 'list', data: fitLines(lines) });
}

async function followEngineLogs(
  deps: { supervisor: Supervisor; follows: FollowGate },
  res: ServerResponse,
  instanceId: string,
  tail: number,
): Promise<void> {
  if (!deps.follows.enter()) {
    throw new HttpError(
      503,
      'service_unavailable',
      `this node already serves ${LOG_FOLLOW_MAX_STREAMS} followed logs`,
      'too_many_follows',
    );
  }
  const hangUp = new AbortController();
  try {
    res.once('close', () => hangUp.abort());
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, {
        'content-type': 'application/x-ndjson; charset=utf-8',
        'cache-control': 'no-store',
      });
      // The headers go now, so the gateway knows the follow started before any line.
      res.flushHeaders();
    };
    const following = deps.supervisor.followLogs(
      instanceId,
      tail,
      (line) => {
        if (hangUp.signal.aborted) return;
        start();
        res.write(`${JSON.stringify({ line: cutLine(line) })}\n`);
        if (res.writableLength > LOG_FOLLOW_BUFFER_BYTES) {
          hangUp.abort();
          res.destroy();
        }
      },
      hangUp.signal,
    );
    if (!following) {
      throw new HttpError(
        404,
        'not_found_error',
        `instance '${instanceId}' does not run on this node`,
        'instance_not_found',
      );
    }
    start();
    try {
      await following;
    } catch (err) {
      // The answer has begun: a failure can only end it early (the gateway sees the cut).
      res.destroy(err instanceof Error ? err : undefined);
      return;
    }
    if (!res.destroyed) res.end();
  } finally {
    hangUp.abort();
    deps.follows.leave();
  }
}
