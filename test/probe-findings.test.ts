/**
 * The findings before the exchange (path, listener, connect) and the healthy
 * case, each produced on a real socket: udsctl serve, Python peers
 * (test/fixtures/probe-peers.py). Exit status and JSON code end to end;
 * the reply and close findings are in probe-exchange.test.ts.
 */
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ME } from './helpers/requirements.js';
import { spawnChild, waitForOutput } from './helpers/children.js';
import { makeStaleSocket } from './helpers/peers.js';
import { waitExit } from './helpers/run-cli.js';
import { tmpDir, uniqueAbstractName } from './helpers/tmp-dir.js';
import { check, cleanup, expectFinding, peer, probe, probeJson, serve } from './fixtures/probe-helpers.js';

afterEach(cleanup);

const REPLY_RE = /^OK\+ at \d\d:\d\d:\d\d\n$/;
// Short bounds keep the suite fast; they are upper bounds, never asserted as timings.
const FAST = ['--timeout', '300ms', '--close-timeout', '200ms', '--connect-timeout', '300ms'];

describe('OK', () => {
  it('udsctl serve (one-shot): healthy, exit 0, every check ok, the listener named', async () => {
    const sock = join(tmpDir(), 's.sock');
    const server = await serve(sock);
    const res = await probeJson([sock]);
    expectFinding(res, 'OK', 0);
    const { t, doc } = res;
    expect(doc).toMatchObject({ schema: 'udsctl.probe/1', status: 'OK', exitStatus: 0 });
    expect(t.checks.map((c: { status: string }) => c.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(t.listener.processes.map((p: { pid: number }) => p.pid)).toContain(server.pid);
    expect(t.exchange.reply).toMatch(REPLY_RE);
    expect(t.exchange.end).toBe('closed');
    expect(t.responseMs).toBeGreaterThan(0);
    expect(t.path).toMatchObject({ state: 'socket', type: 'socket', mayConnect: true, owner: ME.user, group: ME.group });
  });

  it('human output: the verdict first, then the checklist; nothing on stderr', async () => {
    const sock = join(tmpDir(), 's.sock');
    await serve(sock);
    const r = await probe([sock]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`OK ${sock}: healthy [OK]`);
    for (const name of ['path', 'listener', 'connect', 'send', 'reply', 'close']) {
      expect(r.stdout).toMatch(new RegExp(`^  ok {4}${name}`, 'm'));
    }
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('a healthy server in another language (Python)', async () => {
    const sock = join(tmpDir(), 'py.sock');
    await peer('ok', sock);
    const res = await probeJson([sock]);
    expectFinding(res, 'OK', 0);
    expect(res.t.exchange.reply).toBe('OK py\n');
  });

  it('an abstract name: no path check, the listener found in /proc/net/unix', async () => {
    const name = uniqueAbstractName();
    const server = await serve(name);
    const res = await probeJson([name]);
    expectFinding(res, 'OK', 0);
    expect(check(res.t, 'path').status).toBe('skip');
    expect(res.t.listener.processes.map((p: { pid: number }) => p.pid)).toContain(server.pid);
  });
});

describe('the path', () => {
  it('NOT_FOUND: no file at the path', async () => {
    const res = await probeJson([join(tmpDir(), 'none.sock')]);
    expectFinding(res, 'NOT_FOUND', 2);
    expect(check(res.t, 'path').status).toBe('fail');
    expect(check(res.t, 'connect').status).toBe('not-reached');
  });

  it('NOT_FOUND: the directory does not exist (and says which)', async () => {
    const dir = join(tmpDir(), 'gone');
    const res = await probeJson([join(dir, 'deeper', 's.sock')]);
    expectFinding(res, 'NOT_FOUND', 2);
    expect(res.t.detail).toContain(`directory ${dir} does not exist`);
    expect(res.t.path.missingDir).toBe(dir);
  });

  it('NOT_FOUND: an abstract name nobody binds', async () => {
    expectFinding(await probeJson([uniqueAbstractName()]), 'NOT_FOUND', 2);
  });

  it('NOT_A_SOCKET: a regular file, a directory', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'file.sock'), 'x');
    mkdirSync(join(dir, 'dir.sock'));
    const [file, d] = await Promise.all([probeJson([join(dir, 'file.sock')]), probeJson([join(dir, 'dir.sock')])]);
    expectFinding(file, 'NOT_A_SOCKET', 2);
    expect(file.t.detail).toContain('regular file');
    expectFinding(d, 'NOT_A_SOCKET', 2);
    expect(d.t.detail).toContain('directory');
  });
});

describe('the listener', () => {
  it('STALE_SOCKET: udsctl serve killed with SIGKILL leaves its socket file behind', async () => {
    const sock = join(tmpDir(), 'crashed.sock');
    const server = await serve(sock);
    server.kill('SIGKILL');
    await waitExit(server);
    const res = await probeJson([sock]);
    expectFinding(res, 'STALE_SOCKET', 2);
    expect(check(res.t, 'path').status).toBe('ok');
    expect(check(res.t, 'listener')).toMatchObject({ status: 'fail' });
    expect(res.t.listener).toMatchObject({ available: true, inodes: [] });
  });

  it('a symlink to a live socket: OK, and the listener behind it is found (not "another network namespace")', async () => {
    const dir = tmpDir();
    const server = await serve(join(dir, 'real.sock'));
    symlinkSync(join(dir, 'real.sock'), join(dir, 'link.sock'));
    const res = await probeJson([join(dir, 'link.sock')]);
    expectFinding(res, 'OK', 0);
    expect(check(res.t, 'listener').status).toBe('ok');
    expect(check(res.t, 'listener').detail).toMatch(new RegExp(`^listening: pid ${server.pid} `));
    expect(check(res.t, 'listener').detail).not.toMatch(/namespace/);
    expect(res.t.listener.processes.map((p: { pid: number }) => p.pid)).toEqual([server.pid]);
  });

  it('STALE_SOCKET beside a live server bound to the same relative name elsewhere: that server is not claimed', async () => {
    const here = join(tmpDir(), 'here');
    const there = join(tmpDir(), 'there');
    mkdirSync(here);
    mkdirSync(there);
    // A server in another directory, bound by the relative name "app.sock" (as `./app.sock` in its config).
    const other = spawnChild(
      process.execPath,
      ['-e', "require('net').createServer((c) => c.end('OK\\n')).listen('app.sock', () => console.log('ready'))"],
      { cwd: there, timeoutMs: 30_000 },
    );
    await waitForOutput(other, /ready/);
    await makeStaleSocket(join(here, 'app.sock'));
    const res = await probeJson([join(here, 'app.sock'), ...FAST]);
    expectFinding(res, 'STALE_SOCKET', 2);
    expect(check(res.t, 'listener').status).toBe('fail');
    expect(check(res.t, 'listener').detail).not.toMatch(/listening: pid/);
    expect(res.t.listener.inodes).toEqual([]);
    expect(res.t.listener.processes.map((p: { pid: number }) => p.pid)).not.toContain(other.child.pid);
    // And probed where it lives, that server is found.
    const theirs = await probeJson([join(there, 'app.sock'), ...FAST]);
    expectFinding(theirs, 'OK', 0);
    expect(theirs.t.listener.processes.map((p: { pid: number }) => p.pid)).toEqual([other.child.pid]);
  });

  it('SOCKET_DELETED: the socket file was removed while its server still listens ("someone deleted my socket")', async () => {
    const sock = join(tmpDir(), 'deleted.sock');
    const server = await serve(sock);
    rmSync(sock);
    const res = await probeJson([sock]);
    expectFinding(res, 'SOCKET_DELETED', 2);
    expect(res.t.findings.map((f: { code: string }) => f.code)).not.toContain('NOT_FOUND');
    expect(res.t.detail).toContain(`pid ${server.pid} `);
    expect(check(res.t, 'path').status).toBe('fail');
    expect(check(res.t, 'listener')).toMatchObject({ status: 'fail' });
    expect(check(res.t, 'listener').detail).toMatch(new RegExp(`the socket file is gone, yet pid ${server.pid} `));
    expect(res.t.listener.deleted.processes.map((p: { pid: number }) => p.pid)).toEqual([server.pid]);
    const human = await probe([sock]);
    expect(human.status).toBe(2);
    // The verdict wraps at 80 columns (stdout is not a terminal); unwrapped, it is one sentence.
    const verdict = human.stdout.slice(0, human.stdout.indexOf(']') + 1).replace(/\n {2}/g, ' ');
    expect(verdict).toBe(`CRITICAL ${sock}: socket file deleted, server still listening [SOCKET_DELETED]`);
    // A file that never existed is still plain NOT_FOUND.
    expectFinding(await probeJson([join(tmpDir(), 'never.sock')]), 'NOT_FOUND', 2);
  });

  it('STALE_SOCKET: a Python process that bound and exited', async () => {
    const sock = join(tmpDir(), 'py-stale.sock');
    await peer('stale', sock);
    expectFinding(await probeJson([sock]), 'STALE_SOCKET', 2);
  });
});

describe('connect', () => {
  it('BACKLOG_FULL: a Python listener that never accepts, its queue full', async () => {
    const sock = join(tmpDir(), 'backlog.sock');
    const { pid } = await peer('backlog', sock);
    const res = await probeJson([...FAST, sock]);
    expectFinding(res, 'BACKLOG_FULL', 2);
    expect(res.t.listener.processes.map((p: { pid: number }) => p.pid)).toContain(pid);
  });

  it('CONNECT_TIMEOUT: TCP SYNs dropped by a full accept queue (Python)', async () => {
    const { port } = await peer('backlog-tcp');
    const res = await probeJson([...FAST, `127.0.0.1:${port}`]);
    expectFinding(res, 'CONNECT_TIMEOUT', 2);
    expect(check(res.t, 'path').status).toBe('skip');
  });

  it('REFUSED: nothing listens on a TCP port', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    expectFinding(await probeJson([...FAST, `127.0.0.1:${port}`]), 'REFUSED', 2);
  });
});
