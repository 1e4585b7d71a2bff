// Queries on the login_failures table (auth/login-throttle.ts has the arithmetic): one row
// per throttle key, counted in a fixed window. Rows whose window ended are deleted as new
// failures arrive, so the table holds only keys that failed within one window.
import { inArray, lt, sql } from 'drizzle-orm';
import { loginFailures } from '../../../schema/db.ts';
import type { FailureCount } from '../auth/login-throttle.ts';
import type { Db } from './db.ts';

export async function readFailures(db: Db, keys: string[]): Promise<Map<string, FailureCount>> {
  const rows = await db.select().from(loginFailures).where(inArray(loginFailures.key, keys));
  return new Map(rows.map((r) => [r.key, { failures: r.failures, windowStart: r.windowStart }]));
}

// Counts one failure for each key: a key whose window has ended starts a new one.
export async function recordFailure(
  db: Db,
  keys: string[],
  windowMs: number,
  now: number,
): Promise<void> {
  const expired = now - windowMs;
  const [first, ...rest] = keys.map((key) =>
    db
      .insert(loginFailures)
      .values({ key, failures: 1, windowStart: now })
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          failures: sql`case when ${loginFailures.windowStart} <= ${expired} then 1 else ${loginFailures.failures} + 1 end`,
          windowStart: sql`case when ${loginFailures.windowStart} <= ${expired} then ${now} else ${loginFailures.windowStart} end`,
        },
      }),
  );
  if (!first) return;
  await db.batch([
    db.delete(loginFailures).where(lt(loginFailures.windowStart, expired)),
    first,
    ...rest,
  ]);
}

export async function clearFailures(db: Db, key: string): Promise<void> {
  await db.delete(loginFailures).where(inArray(loginFailures.key, [key]));
}
