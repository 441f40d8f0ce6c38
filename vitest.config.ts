import { defineConfig } from 'vitest/config';
import SkipSummaryReporter from './test/helpers/skip-summary.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Files in parallel: vitest's default (one fork per core but one). Four at once on 2 cores took the
    // suite from 704 s to 282-325 s, but under that load the tap's 64 MiB flood test
    // (test/e2e/tap.test.ts, --idle-timeout with a client that does not read) hung in 1 of 3 CI runs.
    // Root runs: a world-readable copy of the build for the tests that drop to uid 65534.
    globalSetup: ['test/helpers/global-setup.ts'],
    // After the usual summary, one line for the tests skipped for a missing peer or for not being root.
    reporters: ['default', new SkipSummaryReporter()],
  },
});
