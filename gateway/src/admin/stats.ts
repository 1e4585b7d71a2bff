// GET /admin/v1/stats?since=<unix ms>&bucket=<seconds>: requests, errors, tokens and time
// to first token (p50, p99) per time bucket, for the dashboard's charts.
import { Hono } from 'hono';
import { z } from 'zod';
import { zodIssueToError } from '../lib/json-body.ts';
import { bucketTotals, bucketTtftPercentiles } from '../store/stats.ts';
import type { AppDeps, AppEnv } from '../types.ts';
import {
  DEFAULT_STATS_BUCKET_S,
  MAX_STATS_BUCKET_S,
  assembleStats,
  statsWindow,
} from '../usage/stats.ts';

export const StatsQuerySchema = z.object({
  since: z.coerce
    .number()
    .int()
    .min(0)
    .max(1e14)
    .optional()
    .describe('unix milliseconds; default: an hour ago'),
  bucket: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_STATS_BUCKET_S)
    .default(DEFAULT_STATS_BUCKET_S)
    .describe('seconds per bucket'),
});

export function statsApp(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const now = deps.now ?? Date.now;

  app.get('/', async (c) => {
    const query = StatsQuerySchema.safeParse(c.req.query());
    if (!query.success) throw zodIssueToError(query.error);
    const window = statsWindow(query.data.since, query.data.bucket, now());
    const [totals, percentiles] = await Promise.all([
      bucketTotals(deps.db, window),
      bucketTtftPercentiles(deps.db, window),
    ]);
    return c.json(assembleStats(window, totals, percentiles));
  });

  return app;
}
