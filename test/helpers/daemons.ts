/**
 * Real protocol servers for the tests, each in a fresh mkdtemp folder with its
 * config, pid, logs and temp paths inside it (so they run as root or not),
 * listening on a Unix socket there, and killed when the test ends.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { type Spawned, spawnChild } from './children.js';
import { tmpDir } from './tmp-dir.js';

/** Wait until `path` exists (the server bound its socket), polling; bounded. */
async function waitForPath(path: string, peer: Spawned, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  let exited = false;
  void peer.exited.then(() => (exited = true));
  while (!existsSync(path)) {
    if (exited || Date.now() > until) throw new Error(`${what} did not start: ${peer.stderr().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Stop the server when the test ends: SIGTERM, so nginx's master stops its
 * workers too (SIGKILL would orphan them), then SIGKILL if it is still there
 * after 10s. Waits for the exit, not for the pipes a worker may hold.
 */
function killAtEnd(peer: Spawned): void {
  onTestFinished(async () => {
    const c = peer.child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  });
}

/**
 * nginx in the foreground on TMP/ng.sock, one process (master_process off): a
 * SIGKILL from any cleanup cannot orphan workers holding our pipes. Locations answer from the config
 * (`return`), so no file has to be readable by its worker user:
 * /ok 200 "hello-nginx\n", /teapot 418, /boom 503, /gz a gzip+chunked body.
 */
export async function startNginx(opts: { keepaliveRequests?: number } = {}): Promise<{ sock: string; dir: string }> {
  const dir = tmpDir('udsctl-ng-');
  for (const d of ['cb', 'px', 'fc', 'uw', 'sc']) mkdirSync(join(dir, d));
  const sock = join(dir, 'ng.sock');
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/cb; proxy_temp_path ${dir}/px; fastcgi_temp_path ${dir}/fc; uwsgi_temp_path ${dir}/uw; scgi_temp_path ${dir}/sc;
  keepalive_requests ${opts.keepaliveRequests ?? 1000};
  server {
    listen unix:${sock};
    default_type text/plain;
    location = /ok { return 200 "hello-nginx\\n"; }
    location = /teapot { return 418; }
    location = /boom { return 503; }
    location = /gz { gzip on; gzip_min_length 1; gzip_types text/plain; return 200 "zipped zipped zipped zipped\\n"; }
    location / { return 404; }
  }
}
`,
  );
  const peer = spawnChild('nginx', ['-e', 'stderr', '-p', dir, '-c', conf, '-g', `daemon off; master_process off; pid ${dir}/nginx.pid; error_log stderr;`], {
    timeoutMs: 120_000,
  });
  killAtEnd(peer);
  await waitForPath(sock, peer, 'nginx');
  return { sock, dir };
}

/** redis-server on TMP/r.sock, no TCP port, nothing saved. */
export async function startRedis(): Promise<{ sock: string; dir: string }> {
  const dir = tmpDir('udsctl-rd-');
  const sock = join(dir, 'r.sock');
  const peer = spawnChild('redis-server', ['--unixsocket', sock, '--port', '0', '--save', '', '--appendonly', 'no', '--dir', dir], { timeoutMs: 120_000 });
  killAtEnd(peer);
  await waitForPath(sock, peer, 'redis-server');
  return { sock, dir };
}
