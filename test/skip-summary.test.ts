/**
 * A missing optional peer skips its tests with one summary line at the end of
 * the run; UDSCTL_TEST_STRICT=1 (CI) turns every such skip into a failure. A
 * real vitest runs test/fixtures/skips.fixture.ts with a PATH without socat or php.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { run } from './helpers/children.js';
import { IS_ROOT } from './helpers/requirements.js';
import { ROOT } from './helpers/run-cli.js';
import { skipSummary } from './helpers/skip-summary.js';

const VITEST = join(ROOT, 'node_modules', 'vitest', 'vitest.mjs');

/** vitest on the fixture, with only node on PATH (so no socat, no php). */
async function runFixture(strict: boolean) {
  const bin = mkdtempSync(join(tmpdir(), 'udsctl-path-'));
  onTestFinished(() => rmSync(bin, { recursive: true, force: true }));
  symlinkSync(process.execPath, join(bin, 'node'));
  const env: NodeJS.ProcessEnv = { HOME: process.env.HOME, PATH: bin, NO_COLOR: '1', CI: '1' };
  if (strict) env.UDSCTL_TEST_STRICT = '1';
  return run(process.execPath, [VITEST, 'run', '--config', 'test/fixtures/vitest.skips.config.ts'], { cwd: ROOT, env, timeoutMs: 60_000 });
}

describe('missing peers', () => {
  it('skip, with one summary line naming the packages', async () => {
    const r = await runFixture(false);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const summary = r.stdout.split('\n').filter((l) => l.startsWith('skipped '));
    const peers = 'skipped 2 interop tests: socat, php-cli not installed — apt-get install socat php-cli';
    expect(summary).toEqual(IS_ROOT ? [peers] : [peers, expect.stringMatching(/^skipped 1 test that need root/)]);
  }, 60_000);

  it('fail under UDSCTL_TEST_STRICT=1', async () => {
    const r = await runFixture(true);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toContain('socat not installed: apt-get install socat (UDSCTL_TEST_STRICT=1: nothing may skip)');
    expect(r.stdout + r.stderr).toContain('php, socat not installed: apt-get install php-cli socat');
    expect(r.stdout).not.toMatch(/^skipped /m);
  }, 60_000);
});

describe('skipSummary()', () => {
  it('counts tests, names each package once, and says nothing when nothing skipped', () => {
    expect(skipSummary([])).toEqual([]);
    expect(skipSummary(['missing peer: nc', 'missing peer: nc python3', 'other note'])).toEqual([
      'skipped 2 interop tests: netcat-openbsd, python3 not installed — apt-get install netcat-openbsd python3',
    ]);
    expect(skipSummary(['needs root: x'])).toEqual([
      "skipped 1 test that need root (they drop to uid 65534 or change a file's group): run npm test as root to include them",
    ]);
  });
});
