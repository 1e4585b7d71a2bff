import { defineConfig } from 'vitest/config';
import { buildUi } from './gateway/ui/bundle.ts';

// The dashboard's files (gateway/ui/dist, never committed), built fresh for every run:
// the Node host serves them at /ui and the Worker's assets binding reads them
// (wrangler.toml), in test/gateway/ui.test.ts, test/worker/ui.test.ts and the browser test.
await buildUi();

export default defineConfig({
  test: {
    projects: [
      // The gateway's Cloudflare host inside workerd (local D1); see that file.
      'test/worker/vitest.config.mts',
      {
        test: {
          name: 'node',
          include: [
            'schema/**/*.test.ts',
            'gateway/**/*.test.ts',
            'gpu-node/**/*.test.ts',
            'test/**/*.test.ts',
          ],
          exclude: ['test/worker/**', 'node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
