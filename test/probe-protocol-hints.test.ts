/**
 * Probe with the line contract (--as line: a plain probe recognises these
 * services and checks them in their protocol, test/service-*.test.ts) against
 * servers that speak another protocol: real nginx (HTTP), redis-server (RESP)
 * and php-fpm (FastCGI) say so and name the flag (PROTOCOL_MISMATCH, UNKNOWN:
 * never "healthy"); a reset from a process udsctl cannot name stays RESET, its
 * fix naming both readings.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startNginx } from './helpers/daemons.js';
import { startPhpFpm } from './helpers/php-fpm.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { check, cleanup, expectFinding, probe, probeJson, redis, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

describe('probe --as line (the default line), against another protocol', () => {
  it('nginx answers "HTTP/1.1 400 Bad Request": an HTTP server, probe with --http PATH; never healthy', async () => {
    const { sock } = await startNginx();
    const [res, human] = await Promise.all([probeJson(['--as', 'line', sock]), probe(['--as', 'line', sock])]);
    expectFinding(res, 'PROTOCOL_MISMATCH', 3);
    expect(res.t.status).toBe('UNKNOWN');
    expect(res.t.detail).toContain('an HTTP server');
    expect(res.t.detail).toContain('"HTTP/1.1 400 Bad Request"');
    expect(res.t.detail).toContain('probe with --http PATH');
    expect(res.t.fix).toMatch(/nginx.*--http/);
    expect(res.t.findings.map((f: { code: string }) => f.code)).toEqual(['PROTOCOL_MISMATCH']);
    expect(check(res.t, 'reply').status).toBe('warn');
    expect(human.stdout).toMatch(/^UNKNOWN .*: another protocol \[PROTOCOL_MISMATCH\]/);
    expect(human.stdout).not.toContain(': healthy');
  });

  it('redis-server answers -ERR: a Redis (RESP) server, probe with --resp PING; not NEVER_CLOSED', async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const res = await probeJson(['--as', 'line', '--close-timeout', '300ms', sock]);
    expectFinding(res, 'PROTOCOL_MISMATCH', 3);
    expect(res.t.detail).toContain('a Redis (RESP) server');
    expect(res.t.detail).toContain('"-ERR unknown command');
    expect(res.t.fix).toContain('--resp PING');
    expect(res.t.findings.map((f: { code: string }) => f.code)).toEqual(['PROTOCOL_MISMATCH']);
    expect(check(res.t, 'close').status).toBe('skip');
  });

  it('php-fpm resets on the line: a mismatch, not a crash, named by the listening process: --fastcgi /ping', async () => {
    const fpm = await startPhpFpm(tmpDir());
    const res = await probeJson(['--as', 'line', fpm.sock]);
    expectFinding(res, 'PROTOCOL_MISMATCH', 3);
    expect(res.t.detail).toContain("the server rejected udsctl's payload (a protocol mismatch, not necessarily a crash)");
    expect(res.t.detail).toMatch(/php-fpm.*probe with --fastcgi \/ping/);
    expect(res.t.fix).toBe('probe with --fastcgi /ping, or --connect-only for liveness');
    expect(res.t.exchange.end).toBe('reset');
  });

  it('a reset from a process not known to speak another protocol stays RESET (CRITICAL), its fix naming both readings', async () => {
    const sock = join(tmpDir(), 'reset.sock');
    await serve(sock, ['--fault', 'reset']);
    const res = await probeJson(['--timeout', '1s', sock]);
    expectFinding(res, 'RESET', 2);
    expect(res.t.fix).toContain("the server rejected udsctl's payload (a protocol mismatch, not necessarily a crash): probe with the protocol's request, or --connect-only");
    expect(res.t.fix).toContain('check its log for a crash');
  });

  it('only for the default payload: a --send of the user is judged as sent', async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const res = await probeJson(['--keep-alive', '--send', 'FOO\\r\\n', sock]);
    expectFinding(res, 'OK', 0);
    expect(res.t.exchange.reply).toMatch(/^-ERR unknown command/);
  });
});
