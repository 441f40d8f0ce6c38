/**
 * `probe --connect-only`: path, listener, connect, then close; the liveness
 * check for a server whatever its protocol. Real peers: php-fpm (which resets
 * on udsctl's default line), a Python server that never reads, a stale socket
 * file, a listener whose backlog is full.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { probe as probeLib } from '../src/core/probe.js';
import { startPhpFpm } from './helpers/php-fpm.js';
import { tmpDir } from './helpers/tmp-dir.js';
import { check, cleanup, expectFinding, peer, probe, probeJson } from './fixtures/probe-helpers.js';

afterEach(cleanup);

describe('probe --connect-only', () => {
  it('php-fpm: OK without speaking FastCGI; send, reply and close are skipped, the listener is named', async () => {
    const fpm = await startPhpFpm(tmpDir());
    const [res, human, nagios] = await Promise.all([
      probeJson(['--connect-only', fpm.sock]),
      probe(['--connect-only', fpm.sock]),
      probe(['--connect-only', '--format', 'nagios', fpm.sock]),
    ]);
    expectFinding(res, 'OK', 0);
    expect(res.t.connectOnly).toBe(true);
    expect(res.t.detail).toContain('accepted the connection');
    expect(check(res.t, 'connect').status).toBe('ok');
    for (const name of ['send', 'reply', 'close']) expect(check(res.t, name)).toMatchObject({ status: 'skip' });
    expect(check(res.t, 'listener').detail).toMatch(/php-fpm/);
    expect(res.t.exchange).toMatchObject({ bytesSent: 0, bytesReceived: 0, until: 'connect-only' });
    expect(typeof res.t.responseMs).toBe('number');
    expect(human.status).toBe(0);
    expect(human.stdout).toMatch(/^OK .*: healthy \[OK\]\n.*--connect-only/);
    expect(nagios.stdout).toMatch(/^OK: .* healthy in .* \| time=/);
    // The same server with the line contract: our line is not FastCGI, php-fpm drops it (a mismatch, named).
    const line = await probeJson(['--as', 'line', fpm.sock]);
    expect(line.t.code).toBe('PROTOCOL_MISMATCH');
  });

  it('a server that accepts and never reads: OK, where the default probe says SILENT', async () => {
    const sock = join(tmpDir(), 'never-read.sock');
    await peer('never-read', sock);
    const [only, full] = await Promise.all([probeJson(['--connect-only', sock]), probeJson(['--timeout', '300ms', sock])]);
    expectFinding(only, 'OK', 0);
    expectFinding(full, 'SILENT', 2);
  });

  it('a stale socket file: STALE_SOCKET, as without the flag', async () => {
    const sock = join(tmpDir(), 'stale.sock');
    await peer('stale', sock);
    const res = await probeJson(['--connect-only', sock]);
    expectFinding(res, 'STALE_SOCKET', 2);
    expect(check(res.t, 'send').status).toBe('not-reached');
  });

  it('no file: NOT_FOUND; a full backlog: BACKLOG_FULL (connect never completes, so not alive)', async () => {
    const dir = tmpDir();
    const sock = join(dir, 'backlog.sock');
    await peer('backlog', sock);
    const [missing, full] = await Promise.all([
      probeJson(['--connect-only', join(dir, 'nothing.sock')]),
      probeJson(['--connect-only', '--connect-timeout', '300ms', sock]),
    ]);
    expectFinding(missing, 'NOT_FOUND', 2);
    expectFinding(full, 'BACKLOG_FULL', 2);
  });

  it('payload and reply flags contradict it: a one-line usage error (exit 3)', async () => {
    const sock = join(tmpDir(), 'x.sock');
    for (const flags of [['--send', 'hi'], ['--expect', 'pong'], ['--expect-regex', 'p'], ['--half-close'], ['--keep-alive'], ['--fastcgi', '/ping'], ['--resp', 'PING']]) {
      const r = await probe(['--connect-only', ...flags, sock]);
      expect(r.status, flags.join(' ')).toBe(3);
      expect(r.stderr).toContain(`--connect-only sends and reads nothing: it contradicts ${flags[0]}`);
      expect(r.stdout).toBe('');
    }
  });

  it('library: connectOnly with a payload is BAD_OPTION', async () => {
    await expect(probeLib(join(tmpDir(), 'x.sock'), { connectOnly: true, payload: Buffer.from('x') })).rejects.toMatchObject({ code: 'BAD_OPTION' });
  });
});
