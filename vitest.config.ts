import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
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
