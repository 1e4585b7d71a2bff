import { defineConfig } from 'vitest/config';

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
