/**
 * The package as a user gets it: `npm pack`, then `npm install -g --prefix TMP`
 * of the tarball. The man page must be linked (package.json "man" in array
 * form), and the package must work installed with --ignore-scripts (pnpm's
 * default): no koffi install script, no "prepare". Slow (two npm installs), so
 * few; the dependencies come from the npm cache, or the registry.
 *
 * The user's npm configuration is kept: `--prefix` alone would make npm read
 * PREFIX/etc/npmrc as its global config instead of the real one, losing what a
 * user put there (a cafile, a proxy, a registry mirror): the install then
 * waits out npm's retries and the test's timeout. So every npm here is given
 * the real `--globalconfig`, and a registry that cannot be reached fails the
 * tests at once, saying which registry and which config files npm read.
 */
import { lstatSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from '../helpers/children.js';
import { findTool, requirePeers } from '../helpers/requirements.js';
import { ROOT } from '../helpers/run-cli.js';
import { tmpDir } from '../helpers/tmp-dir.js';

afterEach(killChildren);

const NPM_TIMEOUT = 240_000;

/** The environment without the npm_* variables of an enclosing `npm test` (its prefix, its scripts setting...). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  return env;
}

/** The user's own npm settings, which --prefix would otherwise replace (set in beforeAll). */
let keepConfig: string[] = [];

async function npmValue(key: string): Promise<string> {
  const r = await run('npm', ['config', 'get', key], { cwd: ROOT, env: cleanEnv(), timeoutMs: 30_000 });
  return r.code === 0 ? r.stdout.trim() : '';
}

async function npm(args: string[], cwd: string) {
  const r = await run('npm', [...args, ...keepConfig, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], {
    cwd,
    env: cleanEnv(),
    timeoutMs: NPM_TIMEOUT,
  });
  if (r.code !== 0) throw new Error(`npm ${args.join(' ')} failed (${r.code ?? r.signal}): ${r.stderr}`);
  return r;
}

let packDir = '';
let tarball = '';

beforeAll(async () => {
  const [globalconfig, userconfig, registry] = await Promise.all([npmValue('globalconfig'), npmValue('userconfig'), npmValue('registry')]);
  if (globalconfig) keepConfig = [`--globalconfig=${globalconfig}`];
  // Fail fast, and say why, when the registry cannot be reached (no retries, a short timeout).
  const ping = await run('npm', ['ping', ...keepConfig, '--fetch-retries=0', '--fetch-timeout=20000', '--loglevel=error'], { cwd: ROOT, env: cleanEnv(), timeoutMs: 40_000 });
  if (ping.code !== 0) {
    const why = (ping.stderr.trim().split('\n').find((l) => /ERR!? (code|errno|[a-z])/i.test(l)) ?? ping.stderr.trim().split('\n')[0] ?? `${ping.signal ?? 'no answer'}`).replace(/^npm (error|ERR!) /, '');
    throw new Error(
      `the npm registry ${registry || '(default)'} cannot be reached (npm ping: ${why}); these tests install the packed package from it. ` +
        `npm read ${globalconfig || 'its global config'} and ${userconfig || '~/.npmrc'}: a cafile, proxy or registry setting belongs there.`,
    );
  }
  // --ignore-scripts: "prepare" would rebuild dist/ under the other test files running now; pretest built it.
  packDir = mkdtempSync(join(tmpdir(), 'udsctl-pack-'));
  await npm(['pack', '--ignore-scripts', '--pack-destination', packDir], ROOT);
  const name = readdirSync(packDir).find((f) => f.endsWith('.tgz'));
  if (!name) throw new Error(`npm pack left no tarball in ${packDir}`);
  tarball = join(packDir, name);
}, NPM_TIMEOUT);
afterAll(() => {
  if (packDir) rmSync(packDir, { recursive: true, force: true });
});

describe('npm install -g of the packed package', () => {
  it('installs the man page where man finds it', async () => {
    requirePeers('man');
    const prefix = tmpDir();
    await npm(['install', '-g', '--prefix', prefix, tarball], prefix);
    const r = await run(findTool('man')!, ['-w', 'udsctl'], { env: { ...cleanEnv(), MANPATH: join(prefix, 'share', 'man') }, timeoutMs: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // npm links share/man/man1/udsctl.1 to the package's copy; man -w prints the link's target.
    const link = join(prefix, 'share', 'man', 'man1', 'udsctl.1');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(r.stdout.trim()).toBe(realpathSync(link));
    expect(r.stdout.trim()).toBe(realpathSync(join(prefix, 'lib', 'node_modules', 'udsctl', 'man', 'udsctl.1')));
    const version = await run(join(prefix, 'bin', 'udsctl'), ['--version'], { timeoutMs: 10_000 });
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  }, NPM_TIMEOUT);

  it('works installed with --ignore-scripts: --version, and a send to a serve', async () => {
    const prefix = tmpDir();
    await npm(['install', '-g', '--ignore-scripts', '--prefix', prefix, tarball], prefix);
    const bin = join(prefix, 'bin', 'udsctl');
    const version = await run(bin, ['--version'], { cwd: prefix, timeoutMs: 10_000 });
    expect(version.stderr).toBe('');
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);

    // The default engine (epoll through koffi, whose install script did not run) where it can serve.
    const sock = join(tmpDir(), 's.sock');
    const server = spawnChild(bin, ['serve', sock], { cwd: prefix, timeoutMs: 30_000 });
    await waitForOutput(server, /listening on/, 15_000);
    const r = await run(bin, ['send', sock, 'hello'], { cwd: prefix, timeoutMs: 10_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^OK\+ at \d\d:\d\d:\d\d\n$/);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  }, NPM_TIMEOUT);
});
