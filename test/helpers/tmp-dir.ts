import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';

/**
 * A fresh mkdtemp folder for the current test, removed when the test ends.
 * Kept short (under /tmp) because sun_path allows only 107 bytes.
 * Call it inside a test (or a beforeEach), never at module level.
 */
export function tmpDir(prefix = 'udsctl-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

let abstractSeq = 0;

/** An abstract socket name no other test (or parallel worker) uses: `@udsctl-test-<pid>-<n>-<rand>`. */
export function uniqueAbstractName(): string {
  abstractSeq++;
  return `@udsctl-test-${process.pid}-${abstractSeq}-${Math.random().toString(36).slice(2, 8)}`;
}
