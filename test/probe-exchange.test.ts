/**
 * The findings of the exchange (reply and close), each produced by a real
 * misbehaving server: udsctl serve's fault modes, Python peers
 * (test/fixtures/probe-peers.py) and Redis. Exit status and JSON code end to end.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tmpDir } from './helpers/tmp-dir.js';
import { check, cleanup, expectFinding, peer, probe, probeJson, redis, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

const REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
// Short bounds keep the suite fast; they are upper bounds, never asserted as timings.
const FAST = ['--timeout', '300ms', '--close-timeout', '200ms', '--connect-timeout', '300ms'];

describe('the reply', () => {
  it('SILENT: serve --fault silent', async () => {
    const sock = join(tmpDir(), 'silent.sock');
    await serve(sock, ['--fault', 'silent']);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'SILENT', 2);
    expect(check(res.t, 'reply').status).toBe('fail');
    expect(res.t.exchange.bytesReceived).toBe(0);
  });

  it('SILENT: a Python server that accepts and never reads', async () => {
    const sock = join(tmpDir(), 'never-read.sock');
    await peer('never-read', sock);
    expectFinding(await probeJson([...FAST, sock]), 'SILENT', 2);
  });

  it('SILENT, then OK with --half-close: a server that reads until end-of-file', async () => {
    const sock = join(tmpDir(), 'eof.sock');
    await serve(sock, ['--read', 'eof']);
    const [plain, halfClosed] = await Promise.all([probeJson([...FAST, sock]), probeJson([...FAST, '--half-close', sock])]);
    expectFinding(plain, 'SILENT', 2);
    expectFinding(halfClosed, 'OK', 0);
  });

  it('CLOSED_WITHOUT_REPLY: serve --fault close-without-reply', async () => {
    const sock = join(tmpDir(), 'cwr.sock');
    await serve(sock, ['--fault', 'close-without-reply']);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'CLOSED_WITHOUT_REPLY', 2);
    expect(res.t.exchange.end).toBe('closed');
  });

  it('RESET: serve --fault reset', async () => {
    const sock = join(tmpDir(), 'reset.sock');
    await serve(sock, ['--fault', 'reset']);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'RESET', 2);
    expect(res.t.exchange.end).toBe('reset');
  });

  it('PARTIAL_REPLY: a Python server that replies without a newline and stays open', async () => {
    const sock = join(tmpDir(), 'nno.sock');
    await peer('no-newline-open', sock);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'PARTIAL_REPLY', 2);
    expect(res.t.exchange).toMatchObject({ reply: 'OK py', end: 'timeout', ruleMet: false });
    expect(res.t.detail).toContain('no newline');
  });

  it('PARTIAL_REPLY: serve --keep-alive --fault no-newline, probed --keep-alive', async () => {
    const sock = join(tmpDir(), 'ka-nn.sock');
    await serve(sock, ['--keep-alive', '--fault', 'no-newline']);
    expectFinding(await probeJson([...FAST, '--keep-alive', sock]), 'PARTIAL_REPLY', 2);
  });

  it('PARTIAL_REPLY: closed before the end rule (--until delim:)', async () => {
    const sock = join(tmpDir(), 'delim.sock');
    await serve(sock);
    const res = await probeJson([...FAST, '--until', 'delim:END', sock]);
    expectFinding(res, 'PARTIAL_REPLY', 2);
    expect(res.t.exchange.end).toBe('closed');
  });

  it('MISMATCH: --expect and --expect-regex', async () => {
    const sock = join(tmpDir(), 'mm.sock');
    await serve(sock, ['--reply', 'ERR busy']);
    const [a, re, both] = await Promise.all([
      probeJson([...FAST, '--expect', 'OK', sock]),
      probeJson([...FAST, '--expect-regex', '^OK\\+', sock]),
      probeJson([...FAST, '--expect', 'busy', '--expect-regex', '^ERR', sock]),
    ]);
    expectFinding(a, 'MISMATCH', 2);
    expect(a.t.detail).toContain('"ERR busy\\n"');
    expectFinding(re, 'MISMATCH', 2);
    expectFinding(both, 'OK', 0);
  });

  it('NO_NEWLINE: serve --fault no-newline (one-shot: reply without newline, then close) is a WARNING', async () => {
    const sock = join(tmpDir(), 'nn.sock');
    await serve(sock, ['--fault', 'no-newline']);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'NO_NEWLINE', 1);
    expect(res.t.status).toBe('WARNING');
    expect(res.t.exchange.reply).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
    expect(check(res.t, 'reply').status).toBe('warn');
    expect(check(res.t, 'close').status).toBe('ok');
  });

  it('NO_NEWLINE: a Python server that replies without a newline and closes', async () => {
    const sock = join(tmpDir(), 'nnc.sock');
    await peer('no-newline-close', sock);
    expectFinding(await probeJson([...FAST, sock]), 'NO_NEWLINE', 1);
  });

  it('MISMATCH outranks NO_NEWLINE; both are reported', async () => {
    const sock = join(tmpDir(), 'nn2.sock');
    await serve(sock, ['--fault', 'no-newline', '--reply', 'nope']);
    const res = await probeJson([...FAST, '--expect', 'OK', sock]);
    expectFinding(res, 'MISMATCH', 2);
    expect(res.t.findings.map((f: { code: string }) => f.code)).toEqual(['MISMATCH', 'NO_NEWLINE']);
  });

  it('SLOW: serve --fault slow over --warn is WARNING, over --crit CRITICAL', async () => {
    const sock = join(tmpDir(), 'slow.sock');
    await serve(sock, ['--fault', 'slow', '--delay', '300ms']);
    const [warn, crit, ok] = await Promise.all([
      probeJson(['--timeout', '5s', '--warn', '100ms', sock]),
      probeJson(['--timeout', '5s', '--warn', '50ms', '--crit', '100ms', sock]),
      probeJson(['--timeout', '5s', '--warn', '5s', sock]),
    ]);
    expectFinding(warn, 'SLOW', 1);
    expect(warn.t.findings[0].severity).toBe('WARNING');
    expect(warn.t.responseMs).toBeGreaterThanOrEqual(300);
    expectFinding(crit, 'SLOW', 2);
    expect(crit.t.findings[0].severity).toBe('CRITICAL');
    expectFinding(ok, 'OK', 0);
  });
});

describe('the close', () => {
  it('NEVER_CLOSED: serve --fault never-close, with the cause and the fix', async () => {
    const sock = join(tmpDir(), 'nc.sock');
    await serve(sock, ['--fault', 'never-close']);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'NEVER_CLOSED', 2);
    expect(res.t.exchange).toMatchObject({ end: 'open', ruleMet: true });
    expect(res.t.exchange.reply).toMatch(REPLY_RE);
    expect(check(res.t, 'reply').status).toBe('ok');
    expect(check(res.t, 'close').status).toBe('fail');
    expect(res.t.cause).toBe('clients that read until end-of-file block forever');
    expect(res.t.fix).toContain('defer conn.Close()');

    const human = await probe([...FAST, sock]);
    expect(human.status).toBe(2);
    expect(human.stdout.split('\n')[0]).toBe(`CRITICAL ${sock}: replied but never closed [NEVER_CLOSED]`);
    expect(human.stdout).toContain('cause: clients that read until end-of-file block forever');
    expect(human.stdout).toMatch(/fix: +close the connection after replying, e\.g\. Go: `defer conn\.Close\(\)`/);
  });

  it('NEVER_CLOSED: with --until eof the reply timeout catches it', async () => {
    const sock = join(tmpDir(), 'nc-eof.sock');
    await serve(sock, ['--fault', 'never-close']);
    expectFinding(await probeJson([...FAST, '--until', 'eof', sock]), 'NEVER_CLOSED', 2);
  });

  it('NEVER_CLOSED: a Python server that forgets to close', async () => {
    const sock = join(tmpDir(), 'py-nc.sock');
    await peer('never-close', sock);
    expectFinding(await probeJson([...FAST, sock]), 'NEVER_CLOSED', 2);
  });

  it('a keep-alive server: NEVER_CLOSED under the one-shot contract, OK with --keep-alive', async () => {
    const sock = join(tmpDir(), 'ka.sock');
    await serve(sock, ['--keep-alive']);
    const [oneShot, res] = await Promise.all([probeJson([...FAST, sock]), probeJson([...FAST, '--keep-alive', sock])]);
    expectFinding(oneShot, 'NEVER_CLOSED', 2);
    expectFinding(res, 'OK', 0);
    expect(res.t.contract).toBe('keep-alive');
    expect(check(res.t, 'close').status).toBe('ok');
  });

  it('Redis (a real keep-alive peer): --keep-alive --send PING --expect +PONG is healthy', async () => {
    const sock = join(tmpDir(), 'redis.sock');
    await redis(sock);
    const [res, oneShot] = await Promise.all([
      probeJson(['--keep-alive', '--send', 'PING\\r\\n', '--expect', '+PONG', sock]),
      // The same server under the one-shot contract is, rightly, a server that never closes.
      probeJson([...FAST, '--send', 'PING\\r\\n', sock]),
    ]);
    expectFinding(res, 'OK', 0);
    expect(res.t.exchange.reply).toBe('+PONG\r\n');
    expect(res.t.listener.processes[0].name).toMatch(/redis/);
    expectFinding(oneShot, 'NEVER_CLOSED', 2);
  });

  it('RESET_AFTER_REPLY: a Python server that replies and closes with the request unread (WARNING)', async () => {
    const sock = join(tmpDir(), 'banner.sock');
    await peer('banner-reset', sock);
    // It closes 0.5s after its reply: allow for that, it is the reset we look for.
    const res = await probeJson([...FAST, '--close-timeout', '3s', sock]);
    expectFinding(res, 'RESET_AFTER_REPLY', 1);
    expect(res.t.exchange.reply).toBe('hello\n');
    expect(check(res.t, 'close').status).toBe('warn');
  });
});
