/**
 * A plain `udsctl probe SOCK` on real services (issue 20): it says which
 * service it found and how (--json `service`, `recognisedBy`), checks it in
 * its own protocol, and names failures in the service's terms. Also: send ends
 * a recognised service's reply by its protocol, bench sends its request, a
 * wrong protocol flag says which protocol the server speaks, and a server
 * nothing recognises keeps the seed's line contract.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, run, spawnChild, waitForOutput } from './helpers/children.js';
import { startNginx } from './helpers/daemons.js';
import { startPhpFpm } from './helpers/php-fpm.js';
import { AS_NOBODY, DEBIAN_PYTHON, findTool, IS_ROOT } from './helpers/requirements.js';
import { runCli, startCli } from './helpers/run-cli.js';
import { startGunicorn, startHaproxy, startMemcached, startSupervisord, startUwsgi } from './helpers/services.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { cleanup, redis, serve } from './fixtures/probe-helpers.js';

afterEach(async () => {
  await cleanup();
  await killChildren();
});

const SLOW = { timeout: 90_000 };
const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;

interface Probed {
  status: number | null;
  service: string | null;
  recognisedBy: string | null;
  code: string;
  detail: string;
  details: Record<string, unknown>;
  elapsedMs: number;
}

async function probe(args: string[]): Promise<Probed> {
  const r = await runCli(['probe', '--json', ...args], { timeoutMs: 30_000 });
  let t;
  try {
    t = JSON.parse(r.stdout).targets[0];
  } catch {
    throw new Error(`no JSON (status ${r.status}): ${r.stdout} ${r.stderr}`);
  }
  return { status: r.status, service: t.service, recognisedBy: t.recognisedBy, code: t.code, detail: t.detail, details: t.serviceInfo?.details ?? {}, elapsedMs: t.elapsedMs };
}

const summary = (p: Probed) => [p.service, p.recognisedBy, p.code, p.status];

describe('probe recognises and checks (no flags)', () => {
  it('memcached: version, by its process; send ends the reply at once; bench sends version', SLOW, async () => {
    const mc = await startMemcached();
    const p = await probe([mc.sock]);
    expect(summary(p), p.detail).toEqual(['memcached', 'process', 'OK', 0]);
    expect(p.details.version).toMatch(/^\d+\.\d+/);
    // The seed's line contract, asked for: memcached answers ERROR and stays open.
    expect((await probe(['--as', 'line', '--close-timeout', '300ms', mc.sock])).code).toBe('NEVER_CLOSED');
    const sent = await runCli(['send', '-v', mc.sock, 'version\\r\\n'], { timeoutMs: 30_000 });
    expect(sent.status).toBe(0);
    expect(sent.stdout).toMatch(/^VERSION \S+\r\n$/);
    expect(sent.stderr).toMatch(/memcached, recognised by process/);
    // Without -v the service is looked up once the reply stays open, not before: the same answer, well within --timeout.
    const plain = await runCli(['send', '--timeout', '4s', '--json', mc.sock, 'stats\\r\\n'], { timeoutMs: 30_000 });
    expect(plain.status).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({ until: 'memcached', ruleMet: true, end: 'open' });
    expect(JSON.parse(plain.stdout).reply).toMatch(/END\r\n$/);
    expect(JSON.parse(plain.stdout).timings.replyEndUs).toBeLessThan(2_000_000);
    const bench = await runCli(['bench', '--json', '-n', '200', '-c', '2', mc.sock], { timeoutMs: 60_000 });
    expect(bench.status).toBe(0);
  });

  it('Redis: PING, as redis-cli ping; NOAUTH is alive and named', SLOW, async () => {
    const dir = tmpDir();
    const sock = join(dir, 'r.sock');
    await redis(sock);
    const p = await probe([sock]);
    expect(summary(p)).toEqual(['redis', 'process', 'OK', 0]);
    expect(p.details.version).toMatch(/^\d+\./);
    const cli = await run(findTool('redis-cli') ?? 'redis-cli', ['-s', sock, 'ping'], { timeoutMs: 10_000 });
    expect(cli.stdout.trim()).toBe('PONG');
    const locked = join(dir, 'locked.sock');
    const s = spawnChild('redis-server', ['--port', '0', '--unixsocket', locked, '--save', '', '--appendonly', 'no', '--requirepass', 'sekrit'], { timeoutMs: 30_000 });
    await waitForOutput(s, /ready to accept connections/i, 20_000);
    const q = await probe([locked]);
    expect(summary(q)).toEqual(['redis', 'process', 'REDIS_NOAUTH', 0]);
    expect(q.detail).toMatch(/NOAUTH/);
  });

  it('nginx: GET / tells alive (a 404 on / too); --http PATH with a 5xx is CRITICAL', SLOW, async () => {
    const { sock } = await startNginx();
    const p = await probe([sock]);
    expect(summary(p)).toEqual(['http', 'process', 'OK', 0]);
    expect(p.details.status).toBe(404);
    const boom = await probe(['--http', '/boom', sock]);
    expect([boom.service, boom.recognisedBy, boom.code, boom.status]).toEqual(['http', 'flag', 'HTTP_STATUS', 2]);
  });

  it('php-fpm: FCGI_GET_VALUES without running PHP; every child busy is FPM_QUEUE_FULL; --http or --as http on it is WRONG_PROTOCOL; bench sends GET_VALUES', SLOW, async () => {
    const dir = tmpDir();
    const started = join(dir, 'started');
    writeFileSync(join(dir, 'slow.php'), `<?php file_put_contents('${started}', '1'); sleep(30);`);
    const fpm = await startPhpFpm(dir, ['pm.max_children = 1']);
    const p = await probe([fpm.sock]);
    expect(summary(p), p.detail).toEqual(['fastcgi', 'process', 'OK', 0]);
    const wrong = await probe(['--http', '/', fpm.sock]);
    expect([wrong.code, wrong.status]).toEqual(['WRONG_PROTOCOL', 3]);
    expect(wrong.detail).toMatch(/speaks FastCGI/);
    // --as NAME is a protocol flag too: the same answer, not RESET ("crash").
    const as = await probe(['--as', 'http', fpm.sock]);
    expect([as.code, as.status, as.detail]).toEqual(['WRONG_PROTOCOL', 3, expect.stringMatching(/speaks FastCGI/)]);
    // bench with no request: the pool's management request, framed as one record (it hung on udsctl's line before).
    const bench = await runCli(['bench', '-n', '200', '-c', '2', '--warmup', '0', fpm.sock], { timeoutMs: 60_000 });
    expect(bench.status, bench.stderr).toBe(0);
    expect(bench.stderr).toMatch(/FastCGI \(php-fpm\), recognised by process.*sending FCGI_GET_VALUES/);
    expect(bench.stdout).toMatch(/200 ok, 0 errors/);
    // The one child runs a slow script: the pool takes connections and answers none.
    const busy = startCli(['send', '--fastcgi', join(dir, 'slow.php'), '--timeout', '60s', fpm.sock]);
    busy.on('error', () => {});
    for (let i = 0; i < 500 && !existsSync(started); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(started)).toBe(true);
    const q = await probe(['--timeout', '1s', fpm.sock]);
    expect(summary(q), q.detail).toEqual(['fastcgi', 'process', 'FPM_QUEUE_FULL', 2]);
    busy.kill();
  });

  it('uwsgi: its binary protocol by its process; --http-socket is HTTP, by its command line (for another user too, by SO_PEERCRED before the path)', SLOW, async () => {
    const uw = await startUwsgi();
    const p = await probe([uw.sock]);
    expect(summary(p), p.detail).toEqual(['uwsgi', 'process', 'OK', 0]);
    const uh = await startUwsgi({ http: true });
    const q = await probe([uh.sock]);
    expect(summary(q), q.detail).toEqual(['http', 'process', 'OK', 0]);
    if (IS_ROOT) {
      // Another user's uwsgi.sock: its process is not in /proc for us, and its name says uwsgi; the kernel's
      // SO_PEERCRED names the process, whose command line (--http-socket) outranks the path (it was CLOSED_WITHOUT_REPLY after 4 s).
      chmodSync(uh.dir, 0o755);
      chmodSync(uh.sock, 0o777);
      const r = await runCli(['probe', '--json', uh.sock], { wrap: AS_NOBODY, cwd: '/', timeoutMs: 30_000 });
      const t = JSON.parse(r.stdout).targets[0];
      expect([t.service, t.recognisedBy, t.code, r.status], r.stdout).toEqual(['http', 'process', 'OK', 0]);
      expect(t.serviceInfo.evidence).toMatch(/--http-socket.*\(SO_PEERCRED\)/);
    }
  });

  it('gunicorn and supervisord: HTTP; gunicorn --http /boom is CRITICAL', SLOW, async () => {
    const gu = await startGunicorn();
    expect(summary(await probe([gu.sock]))).toEqual(['http', 'process', 'OK', 0]);
    expect((await probe(['--http', '/boom', gu.sock])).code).toBe('HTTP_STATUS');
    const sv = await startSupervisord();
    const s = await probe([sv.sock]);
    expect([s.service, s.code, s.status], s.detail).toEqual(['http', 'OK', 0]);
  });

  it('haproxy stats socket: show info (read-only), its version; bench sends show info', SLOW, async () => {
    const hp = await startHaproxy();
    const p = await probe([hp.sock]);
    expect(summary(p), p.detail).toEqual(['haproxy', 'process', 'OK', 0]);
    expect(p.details.version).toMatch(/^\d+\.\d+/);
    const bench = await runCli(['bench', '-n', '50', '-c', '1', '--warmup', '0', hp.sock], { timeoutMs: 60_000 });
    expect(bench.status, bench.stderr).toBe(0);
    expect(bench.stderr).toMatch(/sending 'show info'/);
  });

  it('an HTTP API in Python http.server: recognised by its answer to the line, then GET /; never "healthy" on its 400 page', SLOW, async () => {
    const dir = tmpDir();
    const ok = join(dir, 'api.sock');
    const a = spawnChild(DEBIAN_PYTHON, [join(FIXTURES, 'http-api.py'), ok, 'ok'], { timeoutMs: 60_000 });
    await waitForOutput(a, /ready/, 20_000);
    const p = await probe([ok]);
    expect(summary(p), p.detail).toEqual(['http', 'reply', 'OK', 0]);
    expect(p.details.status).toBe(404);
    expect((await probe(['--http', '/healthz', ok])).code).toBe('OK');
    const bad = join(dir, 'bad.sock');
    const b = spawnChild(DEBIAN_PYTHON, [join(FIXTURES, 'http-api.py'), bad, 'fail'], { timeoutMs: 60_000 });
    await waitForOutput(b, /ready/, 20_000);
    const q = await probe([bad]);
    expect(summary(q), q.detail).toEqual(['http', 'reply', 'HTTP_STATUS', 2]);
  });

  it('a datagram socket that only listens (sd_notify style): connect only, nothing sent', SLOW, async () => {
    const sock = join(tmpDir(), 'notify.sock');
    const sink = spawnChild(DEBIAN_PYTHON, [join(FIXTURES, 'message-peers.py'), 'dgram-sink', sock], { timeoutMs: 60_000 });
    await waitForOutput(sink, /ready/, 20_000);
    const p = await probe([sock]);
    expect(summary(p), p.detail).toEqual(['listen-only', 'path', 'OK', 0]);
    expect(sink.stdout()).not.toMatch(/got/);
  });

  it('a server nothing recognises keeps the line contract: never closing is NEVER_CLOSED within about a second', SLOW, async () => {
    const sock = join(tmpDir(), 'nc.sock');
    await serve(sock, ['--fault', 'never-close']);
    const p = await probe([sock]);
    expect([p.service, p.code, p.status]).toEqual([null, 'NEVER_CLOSED', 2]);
    expect(p.elapsedMs).toBeLessThan(3_000);
  });
});
