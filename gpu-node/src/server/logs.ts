// GET /fleetgate/v1/instances/{id}/logs?tail=N: an engine's last output lines, for the
// gateway's admin API. Tail limits and the answer's size are the contract's
// (schema/contracts.ts), so whatever the gateway asks for, the node can answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  LOG_ANSWER_MAX_BYTES,
  NODE_LOGS_PATH,
  LOG_TAIL_DEFAULT_LINES,
  LOG_TAIL_MAX_LINES,
} from '../../../schema/contracts.ts';
import type { Supervisor } from '../control/supervisor.ts';
import type { DataPlaneVerifier } from './auth.ts';
import { HttpError, sendJson } from './errors.ts';

// Where the gateway reads an instance's logs.
export const LOGS_PATH = NODE_LOGS_PATH;

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
  deps: { supervisor: Supervisor; verifier: DataPlaneVerifier },
  req: IncomingMessage,
  res: ServerResponse,
  instanceId: string,
  tailParam: string | null,
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
  const tail = parseTail(tailParam);
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
