// The Worker host's database (D1, or libSQL over HTTP), opened from the Worker's bindings;
// shared by the Worker's fetch handler and its Durable Objects.
import { drizzle } from 'drizzle-orm/d1';
import * as schema from '../../../schema/db.ts';
import type { Db } from './db.ts';

export interface DbEnv {
  // The D1 database; unused when FLEETGATE_LIBSQL_URL is set.
  DB?: D1Database;
  FLEETGATE_LIBSQL_URL?: string;
  FLEETGATE_LIBSQL_AUTH_TOKEN?: string;
}

// A setting the operator has to fix; its message names the variable and never its value.
export class HostConfigError extends Error {
  override readonly name = 'HostConfigError';
}

export async function openDb(env: DbEnv): Promise<Db> {
  if (env.FLEETGATE_LIBSQL_URL) {
    // Loaded only when used, so a D1 deployment never evaluates the libSQL client.
    const { drizzle: drizzleLibsql } = await import('drizzle-orm/libsql/web');
    return drizzleLibsql({
      connection: { url: env.FLEETGATE_LIBSQL_URL, authToken: env.FLEETGATE_LIBSQL_AUTH_TOKEN },
      schema,
    });
  }
  if (!env.DB) {
    throw new HostConfigError(
      'no database: bind a D1 database as DB in wrangler.toml, or set FLEETGATE_LIBSQL_URL',
    );
  }
  return drizzle(env.DB, { schema });
}
