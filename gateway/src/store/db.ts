// The database handle the app works with, whichever driver is behind it: libSQL
// (Node host, Turso, sqld, or the Worker with a libSQL URL) or D1 (Worker binding).
// Both drivers offer batch() for atomic multi-statement writes; there are no interactive
// transactions because D1 has none.
import type { BatchItem, BatchResponse } from 'drizzle-orm/batch';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import type * as schema from '../../../schema/db.ts';

export type Schema = typeof schema;

export type Db = BaseSQLiteDatabase<'async', unknown, Schema> & {
  batch<U extends BatchItem<'sqlite'>, T extends Readonly<[U, ...U[]]>>(
    batch: T,
  ): Promise<BatchResponse<T>>;
};
