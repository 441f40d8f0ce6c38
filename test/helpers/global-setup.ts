/**
 * Once per run, before any test file: first, build when dist/ is missing or
 * older than src/ (tests import src/, but the engines' threads and the CLI run
 * from dist/: without this, editing an engine and running vitest tests the old
 * one); a failed build fails the run. Then, when the tests run as root, copy what
 * the tests that drop to uid 65534 (setpriv) make that user load into a
 * world-readable temp folder. The checkout itself may sit in a 0700 folder
 * (/root, Debian 12's home directories) that uid 65534 cannot enter.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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

/** The newest modification time under a folder (0 when it does not exist). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The oldest of the built files the tests load, or 0 when one is missing: the
 * CLI, the library, and the thread entries that src/ finds in dist/ through
 * findBuilt (serve's epoll threads, bench's workers, serve's log renderer).
 */
function builtAt(): number {
  const outputs = [
    join(REPO, 'dist', 'udsctl.cjs'),
    join(REPO, 'dist', 'udsctl-send.cjs'),
    join(REPO, 'dist', 'index.js'),
    join(REPO, 'dist', 'core', 'serve', 'epoll', 'worker.js'),
    join(REPO, 'dist', 'core', 'bench', 'worker.js'),
    join(REPO, 'dist', 'render', 'serve-thread.js'),
  ];
  return Math.min(...outputs.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
}

/** Build when src/ (or the build's inputs) changed since dist/ was made; throw when the build fails or stays stale. */
function ensureBuilt(): void {
  const inputs = Math.max(newest(join(REPO, 'src')), newest(join(REPO, 'scripts')), statSync(join(REPO, 'package.json')).mtimeMs);
  if (builtAt() >= inputs) return;
  process.stderr.write('udsctl tests: dist/ is missing or older than src/: running npm run build first\n');
  const r = spawnSync('npm', ['run', 'build'], { cwd: REPO, stdio: ['ignore', 'inherit', 'inherit'], timeout: 300_000 });
  if (r.status !== 0) throw new Error(`udsctl tests: npm run build failed (${r.error?.message ?? `exit ${r.status}`}); the tests would run an old build`);
  if (builtAt() < inputs) throw new Error('udsctl tests: dist/ is still older than src/ after npm run build');
}

export default function setup(project: TestProject): () => void {
  ensureBuilt();
  // One folder for the whole run (test/helpers/services.ts keeps its initdb and
  // mariadb-install-db templates there), removed at the end: a test process's own
  // exit handlers do not run when vitest ends its workers. Open to the daemons' user.
  const runDir = mkdtempSync(join(tmpdir(), 'udsctl-run-'));
  chmodSync(runDir, 0o755);
  project.provide('udsctlRunDir', runDir);
  const dropRunDir = () => rmSync(runDir, { recursive: true, force: true });
  const dist = join(REPO, 'dist', 'index.js');
  if (process.getuid?.() !== 0 || !existsSync(dist)) {
    // Not root: the tests that drop privileges skip (requireRoot). No build: they say to run npm run build.
    project.provide('udsctlWorldDir', '');
    return dropRunDir;
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
  return () => {
    rmSync(world, { recursive: true, force: true });
    dropRunDir();
  };
}
