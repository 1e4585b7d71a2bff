// Tests' database: a real libSQL file in a temp folder, with the real migrations applied.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@libsql/client';
import { drizzle } from 'drizzle-orm/libsql';
import { migrate } from 'drizzle-orm/libsql/migrator';
import * as schema from '../../../schema/db.ts';
import type { Db } from '../store/db.ts';

export interface TempDb {
  db: Db;
  close(): Promise<void>;
}

export async function createTempDb(opts: { migrated?: boolean } = {}): Promise<TempDb> {
  const dir = await mkdtemp(join(tmpdir(), 'fleetgate-test-db-'));
  const client = createClient({ url: `file:${join(dir, 'test.db')}` });
  const db = drizzle(client, { schema });
  if (opts.migrated ?? true) await migrate(db, { migrationsFolder: 'schema/migrations' });
  return {
    db,
    async close() {
      client.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
