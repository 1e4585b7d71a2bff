// Per-bucket figures of usage_events for GET /admin/v1/stats: sums, and the exact
// nearest-rank p50 and p99 of time to first token, ranked by the database (a window
// function) so that only two rows per bucket come back however many requests there were.
import { and, count, gte, inArray, isNotNull, lt, sql } from 'drizzle-orm';
import { usageEvents } from '../../../schema/db.ts';
import type { BucketPercentiles, BucketTotals, StatsWindow } from '../usage/stats.ts';
import type { Db } from './db.ts';

// Failed requests, as GET /usage counts them (store/usage.ts).
const FAILED = ['error', 'upstream_error'];

// The bucket index of a row. The window's numbers are written into the SQL as integer
// literals (checked here) so that the division is SQLite's integer division on every driver.
function bucketOf(w: StatsWindow) {
  if (!Number.isSafeInteger(w.start) || !Number.isSafeInteger(w.bucketMs) || w.bucketMs <= 0) {
    throw new Error(`stats window must be whole milliseconds: ${w.start}, ${w.bucketMs}`);
  }
  return sql<number>`((${usageEvents.createdAt} - ${sql.raw(String(w.start))}) / ${sql.raw(String(w.bucketMs))})`;
}

const inWindow = (w: StatsWindow) =>
  and(gte(usageEvents.createdAt, w.start), lt(usageEvents.createdAt, w.end));

export async function bucketTotals(db: Db, w: StatsWindow): Promise<BucketTotals[]> {
  const bucket = bucketOf(w);
  const rows = await db
    .select({
      bucket,
      requests: count(),
      errors: sql<number>`coalesce(sum(case when ${inArray(usageEvents.outcome, FAILED)} then 1 else 0 end), 0)`,
      promptTokens: sql<number>`coalesce(sum(${usageEvents.promptTokens}), 0)`,
      completionTokens: sql<number>`coalesce(sum(${usageEvents.completionTokens}), 0)`,
    })
    .from(usageEvents)
    .where(inWindow(w))
    .groupBy(bucket);
  return rows.map((r) => ({
    bucket: Number(r.bucket),
    requests: Number(r.requests),
    errors: Number(r.errors),
    promptTokens: Number(r.promptTokens),
    completionTokens: Number(r.completionTokens),
  }));
}

export async function bucketTtftPercentiles(db: Db, w: StatsWindow): Promise<BucketPercentiles[]> {
  const bucket = bucketOf(w);
  const ranked = db
    .select({
      bucket: sql<number>`${bucket}`.as('bucket'),
      ttft: sql<number>`${usageEvents.ttftMs}`.as('ttft'),
      rank: sql<number>`row_number() over (partition by ${bucket} order by ${usageEvents.ttftMs})`.as(
        'rank',
      ),
      n: sql<number>`count(*) over (partition by ${bucket})`.as('n'),
    })
    .from(usageEvents)
    .where(and(inWindow(w), isNotNull(usageEvents.ttftMs)))
    .as('ranked');
  // Nearest rank: ceil(p/100 * n) in integers, as nearestRank() in usage/stats.ts.
  const rankOf = (p: number) => sql`((${ranked.n} * ${sql.raw(String(p))} + 99) / 100)`;
  const rows = await db
    .select({
      bucket: ranked.bucket,
      samples: sql<number>`max(${ranked.n})`,
      p50: sql<
        number | null
      >`max(case when ${ranked.rank} = ${rankOf(50)} then ${ranked.ttft} end)`,
      p99: sql<
        number | null
      >`max(case when ${ranked.rank} = ${rankOf(99)} then ${ranked.ttft} end)`,
    })
    .from(ranked)
    .groupBy(sql`${ranked.bucket}`);
  return rows.map((r) => ({
    bucket: Number(r.bucket),
    samples: Number(r.samples),
    p50: r.p50 === null ? null : Number(r.p50),
    p99: r.p99 === null ? null : Number(r.p99),
  }));
}
