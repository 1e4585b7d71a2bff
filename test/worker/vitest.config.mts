// The Worker tests: the gateway's Cloudflare host (gateway/src/worker.ts) running inside
// workerd with a local D1 database, configured from wrangler.toml like `wrangler dev`.
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-pool-workers';
import { defineProject } from 'vitest/config';
import { generateSigningJwk } from '../../gateway/src/signing/signer.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const migrations = await readD1Migrations(`${root}/schema/migrations`);

export default defineProject({
  root,
  plugins: [
    cloudflareTest(async ({ inject }) => ({
      wrangler: { configPath: `${root}/wrangler.toml` },
      // The gateway's handler, plus the probes of cross-request.test.ts.
      main: `${root}/test/worker/entry.ts`,
      miniflare: {
        bindings: {
          // The secrets a deployment sets with `wrangler secret put`, fresh for each run.
          FLEETGATE_ADMIN_TOKEN: randomBytes(24).toString('base64url'),
          FLEETGATE_SIGNING_JWK: JSON.stringify(await generateSigningJwk()),
          // No caching, so a revoked key is refused on the very next request.
          FLEETGATE_CACHE_TTL_MS: '0',
          // CORS on /v1 for one browser origin (api-conventions.test.ts).
          FLEETGATE_CORS_ORIGINS: 'https://app.example.com',
          TEST_MIGRATIONS: migrations,
          UPSTREAM_URL: inject('upstreamUrl'),
        },
      },
    })),
  ],
  test: {
    name: 'worker',
    root,
    include: ['test/worker/**/*.test.ts'],
    globalSetup: ['test/worker/global-setup.ts'],
    setupFiles: ['test/worker/apply-migrations.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
