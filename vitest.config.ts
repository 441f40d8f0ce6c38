import { defineConfig } from 'vitest/config';
import SkipSummaryReporter from './test/helpers/skip-summary.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    // Four files at once, whatever the core count (vitest's default is one fork per core but one: a
    // single file at a time on 2 cores, 11-12 minutes). Most files wait on sockets, timeouts and
    // other processes, so four overlap well: 254 s on 2 cores. Six were faster still (233 s) but
    // left the CPU no idle time at all, and timing-sensitive tests are then at the mercy of the
    // scheduler. (The tap flood test that once hung at four was a race in the test, fixed.)
    maxWorkers: 4,
    minWorkers: 1,
    // Root runs: a world-readable copy of the build for the tests that drop to uid 65534.
    globalSetup: ['test/helpers/global-setup.ts'],
    // After the usual summary, one line for the tests skipped for a missing peer or for not being root.
    reporters: ['default', new SkipSummaryReporter()],
  },
});
