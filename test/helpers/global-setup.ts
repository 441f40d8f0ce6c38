/**
 * Once per run, before any test file: when the tests run as root, copy what
 * the tests that drop to uid 65534 (setpriv) make that user load into a
 * world-readable temp folder. The checkout itself may sit in a 0700 folder
 * (/root, Debian 12's home directories) that uid 65534 cannot enter.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The runtime dependencies' folders, following package.json dependencies from the root. */
function runtimePackages(): string[] {
  const seen = new Set<string>();
  const visit = (pkgJson: string) => {
    const pkg = JSON.parse(readFileSync(pkgJson, 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const name of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
      // A nested copy is copied with its parent; the flat one is found from the top.
      if (seen.has(name)) continue;
      const manifest = join(REPO, 'node_modules', name, 'package.json');
      if (!existsSync(manifest)) continue; // an optional dependency not installed here
      seen.add(name);
      visit(manifest);
    }
  };
  visit(join(REPO, 'package.json'));
  return [...seen];
}

/** a+rX on a tree, as `chmod -R a+rX`: the owner's umask may have been 077. */
function openUp(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(path, (st.mode & 0o7777) | 0o555);
    for (const e of readdirSync(path)) openUp(join(path, e));
  } else {
    chmodSync(path, (st.mode & 0o7777) | 0o444 | (st.mode & 0o100 ? 0o111 : 0));
  }
}

export default function setup(project: TestProject): () => void {
  const dist = join(REPO, 'dist', 'index.js');
  if (process.getuid?.() !== 0 || !existsSync(dist)) {
    // Not root: the tests that drop privileges skip (requireRoot). No build: they say to run npm run build.
    project.provide('udsctlWorldDir', '');
    return () => {};
  }
  const world = mkdtempSync(join(tmpdir(), 'udsctl-world-'));
  chmodSync(world, 0o755);
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(REPO, part), join(world, part), { recursive: true });
  for (const name of runtimePackages()) {
    cpSync(join(REPO, 'node_modules', name), join(world, 'node_modules', name), { recursive: true });
  }
  cpSync(join(REPO, 'test', 'fixtures'), join(world, 'test', 'fixtures'), { recursive: true });
  openUp(world);
  project.provide('udsctlWorldDir', world);
  return () => rmSync(world, { recursive: true, force: true });
}
