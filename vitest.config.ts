import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Suites start their own Postgres servers and PGlite workers: one file at a time keeps a 2-core machine sane.
    fileParallelism: false,
    pool: 'forks',
  },
});
