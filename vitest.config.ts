import { defineConfig } from 'vitest/config';
import SkipSummaryReporter from './test/helpers/skip-summary.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Root runs: a world-readable copy of the build for the tests that drop to uid 65534.
    globalSetup: ['test/helpers/global-setup.ts'],
    // After the usual summary, one line for the tests skipped for a missing peer or for not being root.
    reporters: ['default', new SkipSummaryReporter()],
  },
});
