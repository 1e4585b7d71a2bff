// /admin/v1/usage: request counts, tokens and latencies over a time window, in total or
// grouped by key, model, node or UTC day; /admin/v1/usage/events: the latest raw rows.
import { Hono } from 'hono';
import { z } from 'zod';
import { badRequest } from '../errors.ts';
import { zodIssueToError } from '../lib/json-body.ts';
import { TimeInputSchema, toUnixSeconds } from '../lib/time.ts';
import { listUsageEvents, summarizeUsage } from '../store/usage.ts';
import type { AppDeps, AppEnv } from '../types.ts';

const DAY_MS = 24 * 3600 * 1000;
export const DEFAULT_EVENTS_LIMIT = 100;
export const MAX_EVENTS_LIMIT = 1000;

const WindowSchema = z.object({
  from: TimeInputSchema.optional(),
  to: TimeInputSchema.optional(),
});

export const UsageQuerySchema = WindowSchema.extend({
  group_by: z.enum(['key', 'model', 'node', 'day']).optional(),
});

export const EventsQuerySchema = WindowSchema.extend({
  limit: z.coerce.number().int().min(1).max(MAX_EVENTS_LIMIT).default(DEFAULT_EVENTS_LIMIT),
  key_id: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(256).optional(),
});

function window(from: number | undefined, to: number | undefined, now: number) {
  const end = to ?? now;
  const start = from ?? end - DAY_MS;
  if (start >= end) throw badRequest("'from' must be before 'to'", 'from', 'invalid_value');
  return { start, end };
}

export function usageApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.get('/', async (c) => {
    const query = UsageQuerySchema.safeParse(c.req.query());
    if (!query.success) throw zodIssueToError(query.error);
    const { group_by: groupBy } = query.data;
    const { start, end } = window(query.data.from, query.data.to, now());
    const rows = await summarizeUsage(deps.db, { start, end, groupBy });
    return c.json({
      object: 'list',
      from: toUnixSeconds(start),
      to: toUnixSeconds(end),
      group_by: groupBy ?? null,
      data: rows.map((r) => ({ ...r, requests: Number(r.requests) })),
    });
  });

  app.get('/events', async (c) => {
    const query = EventsQuerySchema.safeParse(c.req.query());
    if (!query.success) throw zodIssueToError(query.error);
    const q = query.data;
    const { start, end } = window(q.from, q.to, now());
    const rows = await listUsageEvents(deps.db, {
      start,
      end,
      limit: q.limit,
      keyId: q.key_id,
      model: q.model,
    });
    return c.json({
      object: 'list',
      data: rows.map((r) => ({
        id: r.id,
        object: 'usage_event' as const,
        client_request_id: r.clientRequestId,
        key_id: r.keyId,
        model: r.model,
        endpoint: r.endpoint,
        node_id: r.nodeId,
        instance_id: r.instanceId,
        stream: r.stream,
        status: r.status,
        outcome: r.outcome,
        error_code: r.errorCode,
        prompt_tokens: r.promptTokens,
        completion_tokens: r.completionTokens,
        total_tokens: r.totalTokens,
        latency_ms: r.latencyMs,
        ttft_ms: r.ttftMs,
        spend_usd: r.spendUsd,
        images: r.images,
        audio_seconds: r.audioSeconds,
        created_at: toUnixSeconds(r.createdAt),
      })),
    });
  });

  return app;
}
