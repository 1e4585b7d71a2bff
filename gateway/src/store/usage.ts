// Queries on the usage_events table: the usage writers' batched inserts and the admin
// API's summaries and raw rows.
import {
  and,
  count,
  desc,
  eq,
  getTableColumns,
  getTableName,
  gte,
  inArray,
  lt,
  lte,
  sql,
  type SQL,
} from 'drizzle-orm';
import { usageEvents } from '../../../schema/db.ts';
import type { UsageTotals } from '../limits/limiter.ts';
import type { UsageEvent } from '../types.ts';
import type { Db } from './db.ts';

// One statement inserts a whole batch, its rows sent as one JSON array bound to a single
// parameter and unpacked by SQLite (json_each): the statement's text never changes, D1's
// bound of 100 parameters per statement does not cut a batch into statements of 4 rows, and
// no query builder runs per row. Each row is an array in COLUMNS' order, each value
// converted as drizzle would (booleans to 0/1) and an absent one given its column's default.
const COLUMNS = Object.entries(getTableColumns(usageEvents));
const INSERT_HEAD = sql.raw(
  `insert into "${getTableName(usageEvents)}" (${COLUMNS.map(([, c]) => `"${c.name}"`).join(', ')}) ` +
    `select ${COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(', ')} from json_each(`,
);
// `where true`: SQLite's parser needs a WHERE before an upsert clause after a SELECT.
const INSERT_TAIL = sql.raw(') where true on conflict do nothing');
// Rows per statement, so that one bound JSON text stays far below D1's 2 MB per value.
export const ROWS_PER_STATEMENT = 1000;

function rowOf(event: UsageEvent): unknown[] {
  const row: unknown[] = [];
  for (const [name, column] of COLUMNS) {
    const given: unknown = Reflect.get(event, name);
    const value = given === undefined && column.hasDefault ? column.default : given;
    row.push(value === undefined || value === null ? null : column.mapToDriverValue(value));
  }
  return row;
}

// Rows are keyed by request id, and inserts ignore an id already written, so a replayed
// batch or a reused client request id cannot fail a whole batch. The statements of one
// call are written atomically.
export async function insertUsageEvents(db: Db, events: readonly UsageEvent[]): Promise<void> {
  const statements = [];
  for (let i = 0; i < events.length; i += ROWS_PER_STATEMENT) {
    const rows = JSON.stringify(events.slice(i, i + ROWS_PER_STATEMENT).map(rowOf));
    statements.push(db.run(sql`${INSERT_HEAD}${rows}${INSERT_TAIL}`));
  }
  const [first, ...rest] = statements;
  if (first && rest.length === 0) await first;
  else if (first) await db.batch([first, ...rest]);
}

export const USAGE_GROUPS = {
  key: usageEvents.keyId,
  model: usageEvents.model,
  node: usageEvents.nodeId,
  day: sql<string>`strftime('%Y-%m-%d', ${usageEvents.createdAt} / 1000, 'unixepoch')`,
} as const;

export type UsageGroup = keyof typeof USAGE_GROUPS;

// Failed requests: refused by the gateway or failed upstream. A client that hung up is
// not counted as an error (it is still charged for what was generated).
const FAILED = ['error', 'upstream_error'];

// Request counts, tokens and average latencies of [start, end], in total (one row with a
// null group) or one row per group value.
export async function summarizeUsage(
  db: Db,
  opts: { start: number; end: number; groupBy?: UsageGroup },
) {
  const group: SQL<string | null> = opts.groupBy ? sql`${USAGE_GROUPS[opts.groupBy]}` : sql`null`;
  const query = db
    .select({
      group,
      requests: count(),
      errors: sql<number>`coalesce(sum(case when ${inArray(usageEvents.outcome, FAILED)} then 1 else 0 end), 0)`,
      prompt_tokens: sql<number>`coalesce(sum(${usageEvents.promptTokens}), 0)`,
      completion_tokens: sql<number>`coalesce(sum(${usageEvents.completionTokens}), 0)`,
      total_tokens: sql<number>`coalesce(sum(${usageEvents.totalTokens}), 0)`,
      spend_usd: sql<number>`coalesce(sum(${usageEvents.spendUsd}), 0)`,
      images: sql<number>`coalesce(sum(${usageEvents.images}), 0)`,
      audio_seconds: sql<number>`coalesce(sum(${usageEvents.audioSeconds}), 0)`,
      avg_latency_ms: sql<number | null>`round(avg(${usageEvents.latencyMs}), 1)`,
      avg_ttft_ms: sql<number | null>`round(avg(${usageEvents.ttftMs}), 1)`,
    })
    .from(usageEvents)
    .where(and(gte(usageEvents.createdAt, opts.start), lte(usageEvents.createdAt, opts.end)));
  return opts.groupBy ? await query.groupBy(group).orderBy(group) : await query;
}

// The newest rows of [start, end] first, optionally of one key or model.
export function listUsageEvents(
  db: Db,
  opts: { start: number; end: number; limit: number; keyId?: string; model?: string },
) {
  return db
    .select()
    .from(usageEvents)
    .where(
      and(
        gte(usageEvents.createdAt, opts.start),
        lte(usageEvents.createdAt, opts.end),
        opts.keyId === undefined ? undefined : eq(usageEvents.keyId, opts.keyId),
        opts.model === undefined ? undefined : eq(usageEvents.model, opts.model),
      ),
    )
    .orderBy(desc(usageEvents.createdAt), desc(usageEvents.id))
    .limit(opts.limit);
}

// Sums of a key's usage rows in [start, end): the budget period a limiter starts from.
export async function usageTotals(
  db: Db,
  keyId: string,
  start: number,
  end: number | null,
): Promise<UsageTotals> {
  const [row] = await db
    .select({
      requests: count(),
      tokens: sql<number>`coalesce(sum(${usageEvents.totalTokens}), 0)`,
      spendUsd: sql<number>`coalesce(sum(${usageEvents.spendUsd}), 0)`,
    })
    .from(usageEvents)
    .where(
      and(
        eq(usageEvents.keyId, keyId),
        gte(usageEvents.createdAt, start),
        end === null ? undefined : lt(usageEvents.createdAt, end),
      ),
    );
  return {
    requests: Number(row?.requests ?? 0),
    tokens: Number(row?.tokens ?? 0),
    spendUsd: Number(row?.spendUsd ?? 0),
  };
}
