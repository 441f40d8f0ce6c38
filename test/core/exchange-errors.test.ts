import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_CODES, exchange, isUdsError, parseEndRule } from '../../src/index.js';
import { killChildren } from '../helpers/children.js';
import { closedTcpPort, makeStaleSocket, runAsNobody, startFullBacklogListener } from '../helpers/peers.js';
import { requireRoot } from '../helpers/requirements.js';
import { collectLogs, serve, tcpAnyPort } from '../helpers/servers.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

afterEach(killChildren);

const hi = Buffer.from('hi\n');

describe('exchange(): typed errors before the connection', () => {
  it('NOT_FOUND when nothing exists at the path', async () => {
    const path = join(tmpDir(), 'absent.sock');
    const r = await exchange(path, { payload: hi });
    expect(r.ok).toBe(false);
    expect(isUdsError(r.error)).toBe(true);
    expect(r.error?.code).toBe('NOT_FOUND');
    expect(r.error?.message).toBe(`${path}: no such socket (nothing exists at that path)`);
    expect((r.error?.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
    expect(r.error?.target).toBe(path);
    expect(r.end).toBe('error');
  });

  it('NOT_FOUND when the directory does not exist', async () => {
    const r = await exchange(join(tmpDir(), 'no', 'such', 'app.sock'), { payload: hi });
    expect(r.error?.code).toBe('NOT_FOUND');
  });

  it('NOT_FOUND when a parent of the path is a regular file', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'file'), 'x');
    const r = await exchange(join(dir, 'file', 'app.sock'), { payload: hi });
    expect(r.error?.code).toBe('NOT_FOUND');
    expect(r.error?.message).toMatch(/parent of the path is not a directory/);
  });

  // Linux connect(2) answers ECONNREFUSED, not ENOTSOCK, for an inode that is
  // not a socket, so the errno alone cannot tell "no server" from "not a socket".
  it('NOT_A_SOCKET for a regular file, not "connection refused (no server is listening)"', async () => {
    const path = join(tmpDir(), 'regular-file');
    writeFileSync(path, 'not a socket');
    const r = await exchange(path, { payload: hi });
    expect(r.error?.code).toBe('NOT_A_SOCKET');
    expect(r.error?.message).toMatch(/not a socket/);
  });

  it('NOT_A_SOCKET for a directory', async () => {
    const path = join(tmpDir(), 'a-directory');
    mkdirSync(path);
    const r = await exchange(path, { payload: hi });
    expect(r.error?.code).toBe('NOT_A_SOCKET');
  });

  it('REFUSED for a stale socket file (its server was killed with SIGKILL)', async () => {
    const path = join(tmpDir(), 'stale.sock');
    await makeStaleSocket(path);
    const r = await exchange(path, { payload: hi });
    expect(r.error?.code).toBe('REFUSED');
    expect(r.error?.message).toBe(`${path}: connection refused (no server is listening)`);
    expect((r.error?.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('REFUSED for a symlink to a stale socket (connect follows it)', async () => {
    const dir = tmpDir();
    await makeStaleSocket(join(dir, 'stale.sock'));
    symlinkSync(join(dir, 'stale.sock'), join(dir, 'link.sock'));
    const r = await exchange(join(dir, 'link.sock'), { payload: hi });
    expect(r.error?.code).toBe('REFUSED');
  });

  it('REFUSED for a TCP port nobody listens on', async () => {
    const port = await closedTcpPort();
    const r = await exchange(`127.0.0.1:${port}`, { payload: hi });
    expect(r.error?.code).toBe('REFUSED');
  });

  describe('as an unprivileged user (setpriv to uid 65534)', () => {
    beforeEach(() => requireRoot('setpriv to uid 65534, because root passes every permission check'));

    it('PERMISSION_DENIED on a socket with mode 0600 owned by root', async () => {
      const dir = tmpDir();
      chmodSync(dir, 0o755);
      const path = join(dir, 'private.sock');
      await serve(path, { perm: 0o600 });
      const r = await runAsNobody('exchange', path);
      expect(r.uid).toBe(65534);
      expect(r).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    });

    it('PERMISSION_DENIED when a parent directory cannot be searched', async () => {
      const dir = tmpDir();
      chmodSync(dir, 0o755);
      mkdirSync(join(dir, 'locked'), { mode: 0o700 });
      const path = join(dir, 'locked', 'app.sock');
      await serve(path, { perm: 0o666 });
      const r = await runAsNobody('exchange', path);
      expect(r).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
    });

    it('the same user gets through a 0666 socket (the control case)', async () => {
      const dir = tmpDir();
      chmodSync(dir, 0o755);
      const path = join(dir, 'open.sock');
      await serve(path, { perm: 0o666 });
      const r = await runAsNobody('exchange', path);
      expect(r).toMatchObject({ ok: true, code: null });
      expect(r.reply).toMatch(/^OK\+ at /);
    });
  });
});

describe('exchange(): a full listen backlog', () => {
  it('BACKLOG_FULL on a Unix socket whose server never accepts, after retrying until connectTimeout', async () => {
    const path = await startFullBacklogListener('unix', join(tmpDir(), 'full.sock'));
    const started = performance.now();
    const r = await exchange(path, { payload: hi, connectTimeout: 300 });
    const took = performance.now() - started;
    expect(r.error?.code).toBe('BACKLOG_FULL');
    expect(r.error?.timeoutMs).toBe(300);
    expect(r.error?.message).toMatch(/listen backlog stayed full for 300ms/);
    expect((r.error?.cause as NodeJS.ErrnoException).code).toBe('EAGAIN');
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5_000);
  });

  // errno 11 has two names in os.constants.errno (EAGAIN, EWOULDBLOCK); the abstract path must still say BACKLOG_FULL.
  it('BACKLOG_FULL on an abstract name too', async () => {
    const name = await startFullBacklogListener('abstract', uniqueAbstractName());
    const r = await exchange(name, { payload: hi, connectTimeout: 200 });
    expect(r.error?.code).toBe('BACKLOG_FULL');
  });

  // A Unix connect completes or fails at once, so CONNECT_TIMEOUT needs TCP:
  // a full accept queue makes Linux drop the SYN and the handshake hangs.
  it('CONNECT_TIMEOUT on TCP when the handshake cannot complete', async () => {
    const target = await startFullBacklogListener('tcp');
    const started = performance.now();
    const r = await exchange(target, { payload: hi, connectTimeout: 300 });
    const took = performance.now() - started;
    expect(r.error?.code).toBe('CONNECT_TIMEOUT');
    expect(r.error?.timeoutMs).toBe(300);
    expect(r.error?.message).toBe(`${target}: connect did not complete within 300ms`);
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(5_000);
  });
});

describe('exchange(): typed errors after the connection', () => {
  it('NEVER_CLOSED when the server replies but keeps the connection open (eof rule)', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'never-close' });
    const r = await exchange(path, { payload: hi, timeout: 400 });
    expect(r.error?.code).toBe('NEVER_CLOSED');
    expect(r.error?.message).toMatch(/replied \(16 bytes\) but did not close the connection within 400ms/);
    expect(r.reply.toString()).toMatch(/^OK\+ at \d\d:\d\d:\d\d\n$/);
    expect(r).toMatchObject({ end: 'timeout', ruleMet: false });
  });

  it('never-close is fine for a client that reads one line', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'never-close' });
    const r = await exchange(path, { payload: hi, until: parseEndRule('line'), timeout: 2_000 });
    expect(r.ok).toBe(true);
    expect(r.end).toBe('open');
  });

  it('RESET on a Unix socket closed with the request unread', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { fault: 'reset' });
    const logs = collectLogs(server);
    const r = await exchange(path, { payload: hi, timeout: 2_000 });
    expect(r.error?.code).toBe('RESET');
    expect(r.end).toBe('reset');
    expect((r.error?.cause as NodeJS.ErrnoException).code).toMatch(/^(ECONNRESET|EPIPE)$/);
    const [log] = await logs.waitFor(1);
    expect(log).toMatchObject({ end: 'reset', fault: 'reset', bytesOut: 0 });
  });

  it('RESET on an abstract name', async () => {
    const name = uniqueAbstractName();
    await serve(name, { fault: 'reset' });
    const r = await exchange(name, { payload: hi, timeout: 2_000 });
    expect(r.error?.code).toBe('RESET');
  });

  it('RESET on TCP (a real RST)', async () => {
    const server = await serve(tcpAnyPort(), { fault: 'reset' });
    const r = await exchange(server.address(), { payload: hi, timeout: 2_000 });
    expect(r.error?.code).toBe('RESET');
    expect(r.end).toBe('reset');
  });

  it('RESET when the server drops a request over its maxBytes mid-upload', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path, { read: 'eof', maxBytes: 64 * 1024 });
    const logs = collectLogs(server);
    const r = await exchange(path, { payload: Buffer.alloc(4 * 1024 * 1024, 0x61), halfClose: true, timeout: 5_000 });
    expect(r.error?.code).toBe('RESET');
    const [log] = await logs.waitFor(1);
    expect(log.end).toBe('max-bytes');
  });

  it('CLOSED_EARLY when the server closes before the line ends (no-newline)', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'no-newline' });
    const r = await exchange(path, { payload: hi, until: parseEndRule('line'), timeout: 2_000 });
    expect(r.error?.code).toBe('CLOSED_EARLY');
    expect(r.error?.message).toBe(`${path}: server closed after 15 bytes, before the end of reply (line)`);
    expect(r.reply.toString()).toMatch(/^OK\+ at \d\d:\d\d:\d\d$/);
    expect(r).toMatchObject({ end: 'closed', ruleMet: false });
  });

  it('CLOSED_EARLY when fewer than bytes:N arrive before the close', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    const r = await exchange(path, { payload: hi, until: parseEndRule('bytes:100') });
    expect(r.error?.code).toBe('CLOSED_EARLY');
    expect(r.bytesReceived).toBe(16);
  });

  it('CLOSED_EARLY for close-without-reply, whatever the end rule (an empty reply is no reply)', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { fault: 'close-without-reply' });
    for (const rule of ['eof', 'line', 'idle:1s', 'bytes:1']) {
      const r = await exchange(path, { payload: hi, until: parseEndRule(rule), timeout: 2_000 });
      expect(r.error?.code, rule).toBe('CLOSED_EARLY');
      expect(r.error?.message).toBe(`${path}: server closed the connection without replying`);
      expect(r.end).toBe('closed');
    }
  });

  it('every code the core reports is in ERROR_CODES', () => {
    for (const c of ['NOT_FOUND', 'NOT_A_SOCKET', 'REFUSED', 'PERMISSION_DENIED', 'BACKLOG_FULL', 'CONNECT_TIMEOUT',
      'REPLY_TIMEOUT', 'NEVER_CLOSED', 'RESET', 'CLOSED_EARLY', 'ADDRESS_IN_USE', 'UNSAFE_PATH'] as const) {
      expect(ERROR_CODES).toContain(c);
    }
  });
});
