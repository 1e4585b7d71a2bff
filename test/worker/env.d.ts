// Types of the Worker tests' environment: the Worker's own bindings (wrangler.toml and the
// secrets set in vitest.config.mts) plus the test-only ones.
/// <reference types="@cloudflare/vitest-pool-workers/types" />
import type { D1Migration } from 'cloudflare:test';
import type * as WorkerModule from './entry.ts';
import type { Env as WorkerEnv } from '../../gateway/src/worker.ts';

declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {
      DB: D1Database;
      FLEETGATE_ADMIN_TOKEN: string;
      TEST_MIGRATIONS: D1Migration[];
      // Base URL of the Node.js upstream server started by global-setup.ts.
      UPSTREAM_URL: string;
    }
    interface GlobalProps {
      mainModule: typeof WorkerModule;
    }
  }
}
