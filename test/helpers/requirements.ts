/**
 * What a test needs from the machine, and what it does when that is missing.
 *
 * The suite passes for whoever runs it: root or not, in a private (0700)
 * checkout, with or without the optional interop peers. A test that needs a
 * peer or root calls requirePeers() / requireRoot() first; when the need is
 * not met it is skipped with a note the skip-summary reporter
 * (test/helpers/skip-summary.ts) turns into one line at the end of the run.
 * Under UDSCTL_TEST_STRICT=1 (CI, as root, every peer installed) such a skip
 * is a failure instead, so CI still runs everything.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { inject } from 'vitest';
import { getCurrentTest } from 'vitest/suite';
import { OPTIONAL_PEERS, type OptionalPeer, PEER_NOTE, ROOT_NOTE } from './peer-table.js';

export { OPTIONAL_PEERS, type OptionalPeer, PEER_NOTE, ROOT_NOTE };

/** UDSCTL_TEST_STRICT=1: nothing may skip (CI). */
export const STRICT = process.env.UDSCTL_TEST_STRICT === '1';

// nginx and php-fpm live in /usr/sbin, which is not on an ordinary user's PATH on Debian;
// postgres and initdb in /usr/lib/postgresql/VERSION/bin (the newest installed is used).
const PG_BIN = existsSync('/usr/lib/postgresql')
  ? readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a))
      .map((v) => `/usr/lib/postgresql/${v}/bin`)
      .slice(0, 1)
  : [];
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', ...PG_BIN];
const found = new Map<string, string | null>();

/** The absolute path of a command (PATH, then the sbin folders), or null. */
export function findTool(cmd: string): string | null {
  if (found.has(cmd)) return found.get(cmd)!;
  let hit: string | null = null;
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS]) {
    if (!dir) continue;
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      hit = p;
      break;
    } catch {
      // not here
    }
  }
  // php-fpm is installed versioned (php-fpm8.2) on Debian.
  if (!hit && cmd === 'php-fpm') {
    for (const dir of EXTRA_DIRS) {
      const name = existsSync(dir) ? readdirSync(dir).find((f) => /^php-fpm[\d.]+$/.test(f)) : undefined;
      if (name) {
        hit = join(dir, name);
        break;
      }
    }
  }
  found.set(cmd, hit);
  return hit;
}

/** Skip the running test with `note`, or fail it under UDSCTL_TEST_STRICT=1. */
function skipOrFail(note: string, strictMessage: string): never {
  if (STRICT) throw new Error(`${strictMessage} (UDSCTL_TEST_STRICT=1: nothing may skip)`);
  const test = getCurrentTest();
  if (!test) throw new Error(`${note}: call requirePeers()/requireRoot() inside a test or a beforeEach`);
  test.context.skip(note);
  throw new Error('unreachable: skip() throws');
}

/**
 * Skip the running test unless every command is installed (fail under strict
 * mode). Call it first in a test or in a beforeEach; spawnChild() also calls it
 * for any optional peer, so a helper that starts one is covered too.
 */
export function requirePeers(...cmds: OptionalPeer[]): void {
  const missing = cmds.filter((c) => !findTool(c));
  if (missing.length === 0) return;
  const pkgs = missing.map((c) => OPTIONAL_PEERS[c]);
  skipOrFail(`${PEER_NOTE}${missing.join(' ')}`, `${missing.join(', ')} not installed: apt-get install ${pkgs.join(' ')}`);
}

/** Debian's python3, the one its python3-* packages load in (the first python3 on PATH may be pyenv's). */
export const DEBIAN_PYTHON = '/usr/bin/python3';

/**
 * Skip the running test unless Debian's /usr/bin/python3 imports `module`
 * (python3-grpcio's `grpc`), installed by `pkg`; fail under strict mode.
 */
export function requirePythonModule(module: string, pkg: string): void {
  requirePeers('python3');
  const r = spawnSync(DEBIAN_PYTHON, ['-c', `import ${module}`], { encoding: 'utf8', timeout: 30_000 });
  if (r.status === 0) return;
  // The skip summary reads the note's words as commands or packages: name the package.
  skipOrFail(`${PEER_NOTE}${pkg}`, `${DEBIAN_PYTHON} cannot import ${module}: apt-get install ${pkg}`);
}

/** True when this process is root. */
export const IS_ROOT = process.getuid?.() === 0;

/** Skip the running test unless it runs as root, saying why it needs root (fail under strict mode). */
export function requireRoot(why: string): void {
  if (IS_ROOT) return;
  skipOrFail(`${ROOT_NOTE}${why}`, `this test needs root: ${why}`);
}

/** The name of a group id, from /etc/group (then `getent group`); the number as text when unnamed. */
export function groupName(gid: number): string {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && Number(f[2]) === gid && f[2] !== '') return f[0];
  }
  const r = spawnSync('getent', ['group', String(gid)], { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 && r.stdout ? r.stdout.split(':')[0] : String(gid);
}

/** The name of a user id, from /etc/passwd (then `getent passwd`); the number as text when unnamed. */
export function userName(uid: number): string {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && Number(f[2]) === uid && f[2] !== '') return f[0];
  }
  const r = spawnSync('getent', ['passwd', String(uid)], { encoding: 'utf8', timeout: 5_000 });
  return r.status === 0 && r.stdout ? r.stdout.split(':')[0] : String(uid);
}

/** Who runs the tests: the owner and group of every file a test creates. */
export const ME = {
  uid: process.getuid!(),
  gid: process.getgid!(),
  user: userInfo().username,
  group: groupName(process.getgid!()),
};

/** The unprivileged user permission tests drop to (root passes every permission check). */
export const NOBODY = { uid: 65534, gid: 65534, user: userName(65534) };

/** setpriv prefix that drops root to uid/gid 65534 with no supplementary groups. */
export const AS_NOBODY = ['setpriv', `--reuid=${NOBODY.uid}`, `--regid=${NOBODY.gid}`, '--clear-groups'];

/**
 * The world-readable copy of what uid 65534 loads (bin/, dist/, package.json,
 * the runtime node_modules, the fixtures it runs), made by the global setup
 * (test/helpers/global-setup.ts) when the tests run as root: a checkout in a
 * 0700 folder (like /root) is out of that user's reach.
 */
export function worldDir(): string {
  const dir = inject('udsctlWorldDir');
  if (!dir) throw new Error('no world-readable copy of the build: run as root, after npm run build (the global setup makes it)');
  return dir;
}

declare module 'vitest' {
  export interface ProvidedContext {
    udsctlWorldDir: string;
    /** A folder for the whole run, removed after it (global-setup.ts). */
    udsctlRunDir: string;
  }
}
