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
    // other processes, so four overlap well. Six were faster still but left the CPU no idle time at
    // all, and timing-sensitive tests are then at the mercy of the scheduler.
    maxWorkers: 4,
    // Four forks for the whole run, each running file after file in one process: no fork, no
    // vitest start-up and no re-import of the code under test for each of ~100 files (262 s -> 216 s
    // here). The tests keep no state between files: no vi.mock, no fake timers, no process.env or
    // global changed; a test that needs a module fresh takes it with vi.resetModules(). minWorkers
    // = maxWorkers: tinypool otherwise ends idle forks during the run, and with isolate off that
    // ends in an unhandled "Terminating worker thread" rejection after every test has passed.
    minWorkers: 4,
    isolate: false,
    // Some machines set NODE_EXTRA_CA_CERTS for other tools (this one does): Node 20 then reads and
    // parses that CA bundle at every start, ~50 ms of CPU before any JavaScript runs (node -e 0: 83 ms
    // -> 32 ms here), and over 1,000 Node processes start in a run. Nothing in the suite uses TLS; an
    // empty value is "unset" to Node, and every process the tests start inherits it.
    env: { NODE_EXTRA_CA_CERTS: '' },
    // Root runs: a world-readable copy of the build for the tests that drop to uid 65534.
    globalSetup: ['test/helpers/global-setup.ts'],
    // After the usual summary, one line for the tests skipped for a missing peer or for not being root.
    reporters: ['default', new SkipSummaryReporter()],
  },
});
