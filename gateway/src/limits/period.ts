// Budget periods: calendar periods in UTC. A day starts at 00:00 UTC, a week on Monday at
// 00:00 UTC (ISO 8601), a month on the 1st at 00:00 UTC; `total` never resets.
import { BUDGET_PERIODS } from '../../../schema/admin.ts';

export { BUDGET_PERIODS };
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];

// The period a key without a budget_period reports its usage for (GET /v1/key).
export const DEFAULT_BUDGET_PERIOD: BudgetPeriod = 'month';

const DAY_MS = 86_400_000;

export interface PeriodBounds {
  // Stable name of the period containing the instant, e.g. `day:2026-11-28`.
  key: string;
  start: number;
  // null for `total`.
  end: number | null;
}

export function periodOf(period: BudgetPeriod, at: number): PeriodBounds {
  if (period === 'total') return { key: 'total', start: 0, end: null };
  const date = new Date(at);
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  const dayStart = Date.UTC(y, m, date.getUTCDate());
  let start: number;
  let end: number;
  if (period === 'day') {
    start = dayStart;
    end = start + DAY_MS;
  } else if (period === 'week') {
    // getUTCDay(): Sunday is 0; ISO weeks start on Monday.
    start = dayStart - ((date.getUTCDay() + 6) % 7) * DAY_MS;
    end = start + 7 * DAY_MS;
  } else {
    start = Date.UTC(y, m, 1);
    end = Date.UTC(y, m + 1, 1);
  }
  return { key: `${period}:${new Date(start).toISOString().slice(0, 10)}`, start, end };
}
