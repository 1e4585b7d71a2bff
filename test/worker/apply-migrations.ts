// Runs inside workerd before each test file: brings the local D1 database to the schema
// with the same SQL files `wrangler d1 migrations apply` uses. Already applied migrations
// are skipped, so running it once per file is safe.
import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
