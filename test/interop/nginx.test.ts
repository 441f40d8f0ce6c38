/**
 * --http against a real nginx on a Unix socket: send prints the body (-i the
 * head), probe judges the status (2xx OK, 4xx WARNING, 5xx CRITICAL,
 * --expect-status), and bench runs keep-alive (a server closing after
 * keepalive_requests is a reconnect, not an error) and oneshot.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killChildren } from '../helpers/children.js';
import { startNginx } from '../helpers/daemons.js';
import { requirePeers } from '../helpers/requirements.js';
import { killAll, runCli } from '../helpers/run-cli.js';

beforeEach(() => requirePeers('nginx'));
afterEach(async () => {
  killAll();
  await killChildren();
});

describe('udsctl --http against nginx', () => {
  it('send prints the body; -i the head first; HEAD has none; the keep-alive connection is not an error', async () => {
    const { sock } = await startNginx();
    const r = await runCli(['send', '--http', '/ok', sock]);
    expect([r.status, r.stdout, r.stderr]).toEqual([0, 'hello-nginx\n', '']);
    const i = await runCli(['send', '-i', '--http', '/ok', sock]);
    expect(i.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Content-Length: 12\r\n[\s\S]*\r\n\r\nhello-nginx\n$/);
    const h = await runCli(['send', '-i', '-X', 'HEAD', '--http', '/ok', sock]);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n$/);
    const j = JSON.parse((await runCli(['send', '--json', '--http', '/ok', sock])).stdout);
    expect([j.code, j.end, j.until, j.frame.status]).toEqual(['OK', 'open', 'http', 200]);
  });

  it('send: a chunked (gzip) body is de-chunked; a 4xx is said on stderr, exit 10', async () => {
    const { sock } = await startNginx();
    const g = await runCli(['send', '--http', '/gz', '--header', 'Accept-Encoding: gzip', sock]);
    expect(g.status, g.stderr).toBe(0);
    const { gunzipSync } = await import('node:zlib');
    expect(gunzipSync(g.stdoutBytes).toString()).toBe('zipped zipped zipped zipped\n');
    const t = await runCli(['send', '--http', '/teapot', sock]);
    expect(t.status).toBe(10);
    expect(t.stderr).toMatch(/HTTP\/1\.1 418/);
  });

  it('probe: 2xx OK, 4xx WARNING, 5xx CRITICAL, --expect-status', async () => {
    const { sock } = await startNginx();
    const ok = await runCli(['probe', '--http', '/ok', '--expect', 'hello', sock]);
    expect(ok.status, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/kept open \(keep-alive\)/);
    const teapot = await runCli(['probe', '--json', '--http', '/teapot', sock]);
    expect(teapot.status).toBe(1);
    expect(JSON.parse(teapot.stdout).targets[0].code).toBe('HTTP_STATUS');
    const boom = await runCli(['probe', '--json', '--http', '/boom', sock]);
    expect(boom.status).toBe(2);
    expect(JSON.parse(boom.stdout).targets[0].detail).toMatch(/answered HTTP\/1\.1 503 Service Temporarily Unavailable, not a 2xx/);
    expect((await runCli(['probe', '-q', '--http', '/teapot', '--expect-status', '418', sock])).status).toBe(0);
    expect((await runCli(['probe', '-q', '--http', '/ok', '--expect-status', '204', sock])).status).toBe(2);
  });

  it('bench persistent: keepalive_requests closing connections are reconnects, not errors; oneshot sends Connection: close', async () => {
    const { sock } = await startNginx({ keepaliveRequests: 5 });
    const p = await runCli(['bench', '--http', '/ok', '--mode', 'persistent', '-c', '4', '-n', '400', '--expect', 'hello', '--json', sock], { timeoutMs: 60_000 });
    const res = JSON.parse(p.stdout);
    expect(res.requests.errors, JSON.stringify(res.errors)).toBe(0);
    expect(res.requests.ok).toBe(400);
    expect(res.reconnects).toBeGreaterThanOrEqual(60);
    const o = await runCli(['bench', '--http', '/ok', '-c', '4', '-n', '200', '--json', sock], { timeoutMs: 60_000 });
    const one = JSON.parse(o.stdout);
    expect([one.requests.ok, one.requests.errors]).toEqual([200, 0]);
    // Pipelined requests behind the response that announced the close are lost with the connection: said so.
    const pl = JSON.parse((await runCli(['bench', '--http', '/ok', '--mode', 'persistent', '-c', '2', '-p', '4', '-n', '200', '--json', sock], { timeoutMs: 60_000 })).stdout);
    expect(pl.errors[0].code).toBe('CLOSED_EARLY');
    expect(pl.errors[0].message).toMatch(/closed a keep-alive connection \(Connection: close.*pipelined requests unanswered/);
    const e = JSON.parse((await runCli(['bench', '--http', '/boom', '--mode', 'persistent', '-c', '2', '-n', '50', '--json', sock], { timeoutMs: 60_000 })).stdout);
    expect(e.errors[0].code).toBe('MISMATCH');
    expect(e.errors[0].message).toMatch(/HTTP status 503/);
  });

  it('flags that contradict --http are usage errors', async () => {
    for (const args of [
      ['send', '--http', '/', '--until', 'line', '/tmp/x.sock'],
      ['send', '--http', '/', '/tmp/x.sock', 'message'],
      ['send', '--header', 'A: b', '/tmp/x.sock', 'hi'],
      ['probe', '--http', '/', '--send', 'x', '/tmp/x.sock'],
      ['bench', '--http', '/', '--payload', 'x', '/tmp/x.sock'],
      ['send', '--http', '/', '--resp', 'PING', '/tmp/x.sock'],
      ['send', '--http', 'no-slash', '/tmp/x.sock'],
    ]) {
      const r = await runCli(args);
      expect(r.status, args.join(' ')).toBe(args[0] === 'probe' ? 3 : 2);
      expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    }
  });
});
