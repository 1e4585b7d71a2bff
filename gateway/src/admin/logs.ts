// GET /admin/v1/deployments/{id}/logs?tail=N&replica=K: the engine's last lines, read from
// the node that runs that replica (GET /fleetgate/v1/instances/{id}/logs on its data-plane
// address, with a JWT for that node and instance, like any forwarded request). With
// &follow=true, server-sent events that go on with each new line (logs-follow.ts).
import { Hono } from 'hono';
import { z } from 'zod';
import {
  LOG_ANSWER_MAX_BYTES,
  LOG_TAIL_DEFAULT_LINES,
  LOG_TAIL_MAX_LINES,
} from '../../../schema/contracts.ts';
import { isOnline } from '../control-plane/liveness.ts';
import { ApiError, badGateway, notFound, unavailable } from '../errors.ts';
import { zodIssueToError } from '../lib/json-body.ts';
import { relayFollow } from './logs-follow.ts';
import { AnswerTooLargeError, readTextCapped } from '../proxy/read-capped.ts';
import { findPlacedInstance } from '../store/instances.ts';
import type { AppDeps, AppEnv } from '../types.ts';

// The node accepts the same tails and answers within the same size (schema/contracts.ts).
export const DEFAULT_LOG_TAIL = LOG_TAIL_DEFAULT_LINES;
export const MAX_LOG_TAIL = LOG_TAIL_MAX_LINES;
const NODE_TIMEOUT_MS = 10_000;
const MAX_LOG_BYTES = LOG_ANSWER_MAX_BYTES;

export const LogsQuerySchema = z.object({
  tail: z.coerce.number().int().min(1).max(MAX_LOG_TAIL).default(DEFAULT_LOG_TAIL),
  replica: z.coerce.number().int().min(0).optional(),
  follow: z.enum(['true', 'false']).optional(),
});

const NodeLogsSchema = z.object({ object: z.literal('list'), data: z.array(z.string()) });

function nodeErrorMessage(body: unknown): string | undefined {
  const parsed = z.object({ error: z.object({ message: z.string() }) }).safeParse(body);
  return parsed.success ? parsed.data.error.message : undefined;
}

export function deploymentLogsApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.get('/:id/logs', async (c) => {
    const id = c.req.param('id');
    const query = LogsQuerySchema.safeParse(c.req.query());
    if (!query.success) throw zodIssueToError(query.error);
    const { tail, replica } = query.data;
    const follow = query.data.follow === 'true';

    const row = await findPlacedInstance(deps.db, id, replica);
    if (!row) {
      if (replica === undefined) {
        throw notFound(`no deployment with id '${id}'`, 'deployment_not_found', 'id');
      }
      throw notFound(
        `deployment '${id}' has no replica ${replica} placed on a node (or does not exist)`,
        'instance_not_found',
        'replica',
      );
    }
    const { instanceId, nodeId, advertiseUrl } = row;
    if (instanceId === null || nodeId === null || advertiseUrl === null) {
      throw unavailable(`deployment '${id}' has no instance placed on a node yet`, 'no_instance');
    }
    if (!isOnline(row, now(), deps.config.heartbeatIntervalS)) {
      throw unavailable(`node '${nodeId}' is offline; its logs cannot be read`, 'node_offline');
    }

    const jwt = await deps.signer.sign({
      aud: nodeId,
      jti: c.var.requestId,
      instance: instanceId,
      model: row.model,
      scope: 'logs',
    });
    // A follow lasts while the client stays: it is aborted when the client leaves (or the
    // relay ends), and only its start is bounded by NODE_TIMEOUT_MS.
    const hangUp = new AbortController();
    const clientGone = () => hangUp.abort();
    if (follow) c.req.raw.signal.addEventListener('abort', clientGone, { once: true });
    const startTimer = setTimeout(() => hangUp.abort(), NODE_TIMEOUT_MS);
    let res: Response;
    try {
      res = await deps.transport.fetch(
        { id: nodeId, advertiseUrl },
        `/fleetgate/v1/instances/${encodeURIComponent(instanceId)}/logs?tail=${tail}${follow ? '&follow=true' : ''}`,
        {
          method: 'GET',
          headers: { authorization: `Bearer ${jwt}`, 'x-request-id': c.var.requestId },
          signal: hangUp.signal,
        },
      );
    } catch (err) {
      clearTimeout(startTimer);
      c.req.raw.signal.removeEventListener('abort', clientGone);
      throw unavailable(
        `node '${nodeId}' is unreachable: ${err instanceof Error ? err.message : String(err)}`,
        'node_unreachable',
      );
    }
    if (follow) clearTimeout(startTimer);
    if (follow && res.ok && res.body) {
      const stream = relayFollow(res.body, { instanceId, nodeId }, () => {
        c.req.raw.signal.removeEventListener('abort', clientGone);
        hangUp.abort();
      });
      return c.body(stream, 200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
      });
    }
    c.req.raw.signal.removeEventListener('abort', clientGone);
    let text: string;
    try {
      text = await readTextCapped(res, MAX_LOG_BYTES);
      clearTimeout(startTimer);
    } catch (err) {
      clearTimeout(startTimer);
      if (err instanceof AnswerTooLargeError) {
        throw badGateway(`node '${nodeId}' sent too large an answer`, err.code);
      }
      throw badGateway(
        `node '${nodeId}' failed while answering: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const why = nodeErrorMessage(body) ?? `HTTP ${res.status}`;
      if (res.status === 404) {
        throw new ApiError(
          404,
          'not_found_error',
          `node '${nodeId}' does not run instance '${instanceId}' (yet): ${why}`,
          'instance_not_found',
        );
      }
      throw badGateway(`node '${nodeId}' refused the log request: ${why}`);
    }
    const logs = NodeLogsSchema.safeParse(body);
    if (!logs.success) throw badGateway(`node '${nodeId}' sent an unexpected log answer`);
    return c.json({
      object: 'list' as const,
      deployment_id: id,
      instance_id: instanceId,
      node_id: nodeId,
      data: logs.data.data,
    });
  });

  return app;
}
