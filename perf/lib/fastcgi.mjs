// The bench-fastcgi perf section: udsctl bench --fastcgi /ping on a real
// php-fpm (a static pool of 2 in a temp dir) against `cgi-fcgi -bind -connect`
// in a loop, one process per request, as a user checking php-fpm by hand does.
// A floor, not a race: cgi-fcgi pays a process start per request, so the row
// shows what udsctl's framing costs on top of php-fpm itself, with no target.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startPeerServer } from '../build.mjs';

/** php-fpm's binary (versioned on Debian: php-fpm8.2) in the sbin folders, or null. */
function phpFpm() {
  for (const dir of ['/usr/sbin', '/usr/local/sbin', '/sbin']) {
    if (!existsSync(dir)) continue;
    const name = readdirSync(dir).find((f) => /^php-fpm[\d.]*$/.test(f));
    if (name) return join(dir, name);
  }
  return null;
}

const hasCgiFcgi = () => spawnSync('cgi-fcgi', ['-h'], { stdio: 'ignore' }).error === undefined;

/** php-fpm on `sock`, its config, pid and log beside it; as root with -R (no user line), as anyone else plainly. */
async function startPhpFpm(bin, sock) {
  const dir = sock.replace(/\.sock$/, '');
  const conf = `${dir}.conf`;
  await writeFile(
    conf,
    ['[global]', `error_log = ${dir}.log`, `pid = ${dir}.pid`, 'daemonize = no', '[www]', `listen = ${sock}`, 'pm = static', 'pm.max_children = 2', 'ping.path = /ping', ''].join('\n'),
  );
  const root = process.getuid?.() === 0;
  return startPeerServer(bin, ['-F', ...(root ? ['-R'] : []), '-y', conf, '-p', join(sock, '..')], sock);
}

/** cgi-fcgi in a loop for `durationMs`: requests/s and the median per-request time (process start included). */
function cgiFcgiLoop(sock, durationMs) {
  const env = { ...process.env, SCRIPT_NAME: '/ping', SCRIPT_FILENAME: '/ping', REQUEST_METHOD: 'GET' };
  const times = [];
  let errors = 0;
  const start = performance.now();
  while (performance.now() - start < durationMs) {
    const t0 = performance.now();
    const r = spawnSync('cgi-fcgi', ['-bind', '-connect', sock], { env, encoding: 'latin1', timeout: 10_000 });
    times.push((performance.now() - t0) * 1000);
    if (r.status !== 0 || !r.stdout.includes('pong')) errors++;
  }
  const elapsed = performance.now() - start;
  times.sort((a, b) => a - b);
  return { rps: (times.length * 1000) / elapsed, p50: Math.round(times[Math.floor(times.length / 2)]), errors };
}

/** The section; `h` holds run.mjs's helpers (headToHead, udsctlBench, fromU, ms). */
export function fastcgiSection(h) {
  return {
    id: 'bench-fastcgi',
    async run(o) {
      const bin = phpFpm();
      if (!bin) return { id: this.id, skipped: 'no php-fpm (apt-get install php8.2-fpm)' };
      if (!hasCgiFcgi()) return { id: this.id, skipped: 'no cgi-fcgi (apt-get install libfcgi-bin)' };
      return h.headToHead(o, {
        id: this.id,
        title: `udsctl bench --fastcgi /ping (oneshot, 2 in flight) vs cgi-fcgi -bind -connect in a loop (one process per request): php-fpm, static pool of 2; a floor, not a race`,
        serverFor: (_side, sock) => startPhpFpm(bin, sock),
        subject: {
          name: 'udsctl bench --fastcgi',
          measure: async (sock) =>
            h.fromU(await h.udsctlBench(['--fastcgi', '/ping', '--expect', 'pong', '-m', 'oneshot', '-c', '2', '--workers', '1', '-d', o.duration, sock], h.ms(o.duration))),
        },
        reference: { name: 'cgi-fcgi loop', measure: async (sock) => cgiFcgiLoop(sock, h.ms(o.duration)) },
        targets: { p50: null },
      });
    },
  };
}
