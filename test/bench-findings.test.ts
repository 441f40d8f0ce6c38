/**
 * bench tells the truth about real servers (issue 23): connections a worker
 * pool never serves (php-fpm), a server that closes after each response on a
 * persistent run (uwsgi --http-socket), a one-shot run on a server that never
 * closes (memcached), and udsctl's own server with nothing to say. Findings,
 * codes and the run's bounds are asserted, not speeds.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killChildren, spawnChild, waitForOutput } from './helpers/children.js';
import { startPhpFpm } from './helpers/php-fpm.js';
import { IS_ROOT } from './helpers/requirements.js';
import { killAll, runCli } from './helpers/run-cli.js';
import { serve } from './helpers/servers.js';
import { tmpDir } from './helpers/tmp-dir.js';

afterEach(async () => {
  await killChildren();
  killAll();
});

const codes = (j: { findings: { code: string }[] }) => j.findings.map((f) => f.code);

/** uwsgi serving a tiny WSGI app over HTTP on a Unix socket (--http-socket: no keep-alive). */
async function startUwsgi(dir: string): Promise<string> {
  const sock = join(dir, 'uwsgi.sock');
  writeFileSync(
    join(dir, 'app.py'),
    "def application(env, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'ok\\n']\n",
  );
  const s = spawnChild('uwsgi', ['--plugin', 'python3', '--http-socket', sock, '--wsgi-file', join(dir, 'app.py'), '--master', '--processes', '1', '--disable-logging'], {
    timeoutMs: 120_000,
  });
  await waitForOutput(s, /spawned uWSGI worker/, 20_000);
  return sock;
}

/** memcached on a Unix socket (it keeps every connection open after a reply). */
async function startMemcached(dir: string): Promise<string> {
  const sock = join(dir, 'mc.sock');
  // As root memcached runs as nobody, who must be able to create the socket here.
  if (IS_ROOT) chmodSync(dir, 0o777);
  const s = spawnChild('memcached', [...(IS_ROOT ? ['-u', 'nobody'] : []), '-s', sock, '-a', '0777', '-t', '1'], { timeoutMs: 120_000 });
  const deadline = Date.now() + 15_000;
  while (!existsSync(sock)) {
    if (s.child.exitCode !== null) throw new Error(`memcached exited: ${s.stderr()}`);
    if (Date.now() > deadline) throw new Error(`memcached did not listen within 15s: ${s.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return sock;
}

describe('bench findings against real servers', () => {
  it('php-fpm with one child, 3 persistent connections: 2 never served, named; the rate over the window; the run ends within one timeout of it', async () => {
    const fpm = await startPhpFpm(tmpDir(), ['pm.max_children = 1']);
    // --timeout longer than -d: the starved requests are still in flight when the window ends (with both at 1 s,
    // whether they timed out just before or just after the window's end was a race a loaded machine lost once).
    const timeoutMs = 1_500;
    const r = await runCli(['bench', '--fastcgi', '/ping', '-m', 'persistent', '-c', '3', '-d', '1s', '--timeout', `${timeoutMs}ms`, '--json', fpm.sock], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(7); // the starved requests time out
    const j = JSON.parse(r.stdout);
    expect(j.perConnection).toMatchObject({ connections: 3, unserved: 2, min: 0 });
    expect(j.perConnection.max).toBeGreaterThan(0);
    expect(codes(j)).toContain('UNSERVED_CONNECTIONS');
    expect(j.findings.find((f: { code: string }) => f.code === 'UNSERVED_CONNECTIONS').detail).toBe(
      '2 of 3 connections got no reply: the server serves 1 at a time',
    );
    // The window is -d; the requests in flight after it end within one --timeout; the timeline has no drain seconds.
    expect(j.windowMs).toBeGreaterThanOrEqual(990);
    expect(j.windowMs).toBeLessThan(1500);
    expect(j.drain.inFlight).toBeGreaterThanOrEqual(2);
    expect(j.elapsedMs).toBeLessThanOrEqual(j.windowMs + timeoutMs + 500);
    expect(j.timeline.length).toBeLessThanOrEqual(2);
    // windowMs is rounded to a whole ms in the report while the rate uses the exact window, so the
    // recomputed rate may differ by up to rate × 0.5 ms / window (about 7/s at 13,500/s over 1 s).
    const recomputed = ((j.requests.ok - j.drain.ok) * 1000) / j.windowMs;
    expect(Math.abs(j.throughput.requestsPerSec - recomputed)).toBeLessThanOrEqual((recomputed * 0.6) / j.windowMs + 0.1);
    // The human report says it too.
    // A timeout longer than the run: the starved requests are waited for after the window, and that is said.
    const h = await runCli(['bench', '--fastcgi', '/ping', '-m', 'persistent', '-c', '3', '-d', '1s', '--timeout', '2s', fpm.sock], { timeoutMs: 60_000 });
    // The report fits 80 columns, so long lines wrap: compare with the whitespace folded.
    const flat = h.stdout.replace(/\s+/g, ' ');
    expect(flat).toMatch(/UNSERVED_CONNECTIONS: 2 of 3 connections got no reply: the server serves 1 at a time/);
    expect(flat).toMatch(/then \d+\.\d\ds waiting for \d+ requests in flight .*bounded by --timeout 2s\): run \d\.\d\ds/);
    expect(flat).toMatch(/Per conn\. +min 0, median 0, max [\d,]+ requests +2 of 3 never served/);
  }, 120_000);

  it('uwsgi --http-socket on a persistent run: CLOSES_EACH_RESPONSE, suggesting -m oneshot', async () => {
    const sock = await startUwsgi(tmpDir());
    const r = await runCli(['bench', '--http', '/healthz', '-m', 'persistent', '-c', '2', '-d', '1s', '--json', sock], { timeoutMs: 60_000 });
    const j = JSON.parse(r.stdout);
    expect(j.requests.ok).toBeGreaterThan(10);
    const f = j.findings.find((x: { code: string }) => x.code === 'CLOSES_EACH_RESPONSE');
    expect(f, JSON.stringify(j.findings)).toBeDefined();
    expect(f.fix).toMatch(/-m oneshot/);
    expect(f.detail).toMatch(/reconnects for [\d,]+ replies/);
    // The same server one-shot: nothing to say.
    const o = await runCli(['bench', '--http', '/healthz', '-c', '2', '-d', '1s', '--json', sock], { timeoutMs: 60_000 });
    expect(o.status, o.stderr).toBe(0);
    expect(codes(JSON.parse(o.stdout))).toEqual([]);
  }, 120_000);

  it('memcached on a one-shot run: NEVER_CLOSES (exit 8), suggesting -m persistent; the run ends within one timeout of -d', async () => {
    const sock = await startMemcached(tmpDir());
    const r = await runCli(['bench', '--payload', 'version\\r\\n', '-c', '2', '-d', '1s', '--timeout', '1s', '--json', sock], { timeoutMs: 60_000 });
    expect(r.status, r.stderr).toBe(8);
    const j = JSON.parse(r.stdout);
    const f = j.findings.find((x: { code: string }) => x.code === 'NEVER_CLOSES');
    expect(f, JSON.stringify(j.findings)).toBeDefined();
    expect(f.fix).toMatch(/-m persistent/);
    expect(j.elapsedMs).toBeLessThanOrEqual(j.windowMs + 1000 + 500);
    // Persistent, as suggested: served, nothing to say.
    const p = await runCli(['bench', '--payload', 'version\\r\\n', '-m', 'persistent', '-c', '2', '-d', '1s', '--json', sock], { timeoutMs: 60_000 });
    expect(p.status, p.stderr).toBe(0);
    const pj = JSON.parse(p.stdout);
    expect(codes(pj)).toEqual([]);
    expect(pj.perConnection.unserved).toBe(0);
  }, 120_000);

  it("udsctl serve: no findings, every connection served", async () => {
    const dir = tmpDir();
    const sock = join(dir, 's.sock');
    const srv = await serve(sock, { keepAlive: true });
    try {
      const r = await runCli(['bench', '-m', 'persistent', '-c', '4', '-d', '1s', '--json', sock], { timeoutMs: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      expect(j.findings).toEqual([]);
      expect(j.perConnection).toMatchObject({ connections: 4, unserved: 0, starved: 0 });
      expect(j.perConnection.min).toBeGreaterThan(0);
      expect(j.drain.errors).toBe(0);
    } finally {
      await srv.close();
    }
  }, 60_000);
});
