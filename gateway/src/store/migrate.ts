// Applies schema/migrations to a libSQL database (the Node host, on start). The Worker's
// D1 gets the same SQL files through `wrangler d1 migrations apply`.
import { fileURLToPath } from 'node:url';
import type { LibSQLDatabase } from 'drizzle-orm/libsql';
import { migrate } from 'drizzle-orm/libsql/migrator';
import type { Schema } from './db.ts';

// Resolved from this file, so the host works from any working directory.
export const MIGRATIONS_FOLDER = fileURLToPath(
  new URL('../../../schema/migrations', import.meta.url),
);

export async function migrateLibsql(db: LibSQLDatabase<Schema>): Promise<void> {
  await migrate(db, { migrationsFolder: MIGRATIONS_FOLDER });
}
