import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The first of `candidates` (paths relative to `base`, the caller's
 * import.meta.url) that exists, or null. How a compiled file a thread loads is
 * found from each way the code runs: the bundled CLI (dist/udsctl.cjs), tsc's
 * layout (dist/...), and sources under test (src/..., with dist built beside).
 */
export function findBuilt(base: string, candidates: readonly string[]): URL | null {
  for (const rel of candidates) {
    const u = new URL(rel, base);
    if (existsSync(fileURLToPath(u))) return u;
  }
  return null;
}
