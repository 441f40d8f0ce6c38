/**
 * A real php-fpm (the packaged php-fpm8.2 or whatever version is installed) on
 * a Unix socket in a temp folder: one static pool with ping.path and
 * pm.status_path, its pid file and error log in the folder too, in the
 * foreground. Works as root (-R: allowed to run as root; no `user` line) and as
 * an ordinary user. Started in its own process group so the master and its
 * workers are all ended when the test finishes.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { spawnChild } from './children.js';
import { IS_ROOT } from './requirements.js';

export interface PhpFpm {
  sock: string;
  dir: string;
  pid: number;
  /** The error log so far (php-fpm writes STDERR records of scripts there too). */
  log(): string;
}

/** Start php-fpm in `dir` (a fresh temp folder) listening on dir/fpm.sock; resolves once it says it is ready. */
export async function startPhpFpm(dir: string, extraPool: string[] = []): Promise<PhpFpm> {
  const sock = join(dir, 'fpm.sock');
  const logFile = join(dir, 'fpm.log');
  writeFileSync(
    join(dir, 'fpm.conf'),
    [
      '[global]',
      `error_log = ${logFile}`,
      `pid = ${join(dir, 'fpm.pid')}`,
      'daemonize = no',
      '[www]',
      `listen = ${sock}`,
      'pm = static',
      'pm.max_children = 2',
      'ping.path = /ping',
      'pm.status_path = /status',
      'catch_workers_output = yes',
      ...extraPool,
      '',
    ].join('\n'),
  );
  const s = spawnChild('php-fpm', ['-F', ...(IS_ROOT ? ['-R'] : []), '-y', join(dir, 'fpm.conf'), '-p', dir], {
    timeoutMs: 120_000,
    detached: true,
    // The workers inherit the master's stdio: pipes would keep 'close' from firing after the master dies.
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const pid = s.child.pid!;
  onTestFinished(async () => {
    const group = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig);
      } catch {
        // already gone
      }
    };
    group('SIGTERM');
    const timer = setTimeout(() => group('SIGKILL'), 3_000);
    await s.exited;
    clearTimeout(timer);
    group('SIGKILL'); // a worker that outlived its master
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  const deadline = Date.now() + 15_000;
  while (!(existsSync(sock) && /ready to handle connections/.test(log()))) {
    if (s.child.exitCode !== null) throw new Error(`php-fpm exited (${s.child.exitCode}): ${log()}`);
    if (Date.now() > deadline) throw new Error(`php-fpm did not get ready within 15s: ${log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { sock, dir, pid, log };
}
