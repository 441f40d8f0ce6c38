import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import SkipSummaryReporter from './test/helpers/skip-summary.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Most files wait on real peers, daemons and timeouts, not on the CPU: twice the cores (4 to 8)
    // at once. On 2 cores the suite takes under 5 minutes instead of 12 with vitest's default (one
    // fork per core but one); 6 at once made the 64 MiB flood tests of the tap time out.
    maxWorkers: Math.min(8, Math.max(4, 2 * availableParallelism())),
    minWorkers: 1,
    // Root runs: a world-readable copy of the build for the tests that drop to uid 65534.
    globalSetup: ['test/helpers/global-setup.ts'],
    // After the usual summary, one line for the tests skipped for a missing peer or for not being root.
    reporters: ['default', new SkipSummaryReporter()],
  },
});
