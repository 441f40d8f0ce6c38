import { chmodSync, closeSync, existsSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { connectAbstractFd } from '../../src/core/socket/fd.js';
import { UdsError, exchange } from '../../src/index.js';
import { inspectSocketFile, removeSocketFile, startServer } from '../../src/unstable.js';
import { killChildren } from '../helpers/children.js';
import { OK_REPLY_RE, makeStaleSocket, runAsNobody } from '../helpers/peers.js';
import { IS_ROOT, ME, groupName, requireRoot } from '../helpers/requirements.js';
import { serve } from '../helpers/servers.js';
import { tmpDir, uniqueAbstractName } from '../helpers/tmp-dir.js';

afterEach(killChildren);

const hi = Buffer.from('hi\n');
const mode = (p: string) => lstatSync(p).mode & 0o7777;

/** The typed error startServer() rejects with (fails the test if it listens). */
async function listenError(target: string, opts = {}): Promise<UdsError> {
  try {
    const s = await startServer(target, opts);
    await s.close();
  } catch (err) {
    expect(err).toBeInstanceOf(UdsError);
    return err as UdsError;
  }
  throw new Error(`expected startServer(${target}) to fail, it listened`);
}

describe('startServer(): socket file mode', () => {
  for (const perm of [0o660, 0o600, 0o666, 0o777, 0o700]) {
    it(`perm 0${perm.toString(8)} gives exactly that mode`, async () => {
      const path = join(tmpDir(), 's.sock');
      await serve(path, { perm });
      expect(lstatSync(path).isSocket()).toBe(true);
      expect(mode(path)).toBe(perm);
    });
  }

  it('restores the process umask after binding', async () => {
    const before = process.umask();
    const path = join(tmpDir(), 's.sock');
    await serve(path, { perm: 0o600 });
    expect(process.umask()).toBe(before);
  });

  it('without perm, the mode follows the process umask', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path);
    expect(mode(path)).toBe(0o777 & ~process.umask());
  });

  it('group by name and by number sets the socket file group', async () => {
    // A group other than the file's default: root may pick any (nogroup); anyone else one of their other groups.
    const gid = IS_ROOT ? 65534 : (process.getgroups?.() ?? []).find((g) => g !== ME.gid);
    if (gid === undefined) requireRoot('changing a file to another group needs root or membership of a second group');
    const name = groupName(gid!);
    const dir = tmpDir();
    await serve(join(dir, 'a.sock'), { perm: 0o660, group: name });
    await serve(join(dir, 'b.sock'), { perm: 0o660, group: gid });
    expect(lstatSync(join(dir, 'a.sock')).gid).toBe(gid);
    expect(lstatSync(join(dir, 'b.sock')).gid).toBe(gid);
  });

  it('perm 0660 + group lets a member of the group in, and only the group', async () => {
    requireRoot('the socket goes to group 65534, and setpriv drops to uid 65534');
    const dir = tmpDir();
    chmodSync(dir, 0o755);
    const path = join(dir, 'grp.sock');
    await serve(path, { perm: 0o660, group: 65534 });
    // setpriv --regid=65534: nobody's primary group is the socket's group.
    expect(await runAsNobody('exchange', path)).toMatchObject({ ok: true });
    const other = join(dir, 'root-only.sock');
    await serve(other, { perm: 0o660 });
    expect(await runAsNobody('exchange', other)).toMatchObject({ ok: false, code: 'PERMISSION_DENIED' });
  });

  it('an unknown group fails with BAD_OPTION', async () => {
    const e = await listenError(join(tmpDir(), 's.sock'), { group: 'no-such-group-udsctl' });
    expect(e.code).toBe('BAD_OPTION');
    expect(e.message).toBe('--group: no group named "no-such-group-udsctl"');
  });

  // The group is looked up after the bind, and a failure there leaves the server listening.
  it('an unknown group leaves nothing listening and no socket file behind', async () => {
    const path = join(tmpDir(), 's.sock');
    await expect(startServer(path, { group: 'no-such-group-udsctl' })).rejects.toMatchObject({ code: 'BAD_OPTION' });
    const r = await exchange(path, { payload: hi, timeout: 500 });
    expect(r.error?.code).toBe('NOT_FOUND');
    expect(existsSync(path)).toBe(false);
  });
});

describe('startServer(): what is already at the path', () => {
  it('replaces a stale socket file and says so', async () => {
    const path = join(tmpDir(), 's.sock');
    await makeStaleSocket(path);
    expect((await exchange(path, { payload: hi })).error?.code).toBe('REFUSED');
    const server = await startServer(path, { graceTimeout: 500 });
    try {
      expect(server.replacedStale).toBe(true);
      expect((await exchange(path, { payload: hi })).reply.toString()).toMatch(OK_REPLY_RE);
    } finally {
      await server.close();
    }
  });

  it('listen() returns replacedStale, and emits it with the listening event', async () => {
    const path = join(tmpDir(), 's.sock');
    await makeStaleSocket(path);
    const { parseTarget } = await import('../../src/index.js');
    const { UdsServer } = await import('../../src/unstable.js');
    const server = new UdsServer(parseTarget(path), { graceTimeout: 500 });
    const events: unknown[] = [];
    server.on('listening', (info) => events.push(info));
    try {
      expect(await server.listen()).toEqual({ replacedStale: true });
      expect(events).toEqual([{ target: path, replacedStale: true }]);
    } finally {
      await server.close();
    }
  });

  it('a fresh path is not a replacement', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await serve(path);
    expect(server.replacedStale).toBe(false);
  });

  it('replaceStale: false refuses a stale file with ADDRESS_IN_USE and leaves it', async () => {
    const path = join(tmpDir(), 's.sock');
    await makeStaleSocket(path);
    const e = await listenError(path, { replaceStale: false });
    expect(e.code).toBe('ADDRESS_IN_USE');
    expect(e.message).toMatch(/stale socket file/);
    expect(lstatSync(path).isSocket()).toBe(true);
  });

  it('a live server at the path: ADDRESS_IN_USE, and the live server keeps working', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { reply: Buffer.from('first') });
    const e = await listenError(path);
    expect(e.code).toBe('ADDRESS_IN_USE');
    expect(e.message).toBe(`${path}: in use: a server is already listening there`);
    expect((await exchange(path, { payload: hi })).reply.toString()).toBe('first\n');
  });

  it('a regular file: UNSAFE_PATH, and the file is untouched', async () => {
    const path = join(tmpDir(), 'precious.txt');
    writeFileSync(path, 'do not delete');
    const e = await listenError(path);
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toMatch(/is a regular file, not a socket; refusing to replace it/);
    expect(readFileSync(path, 'utf8')).toBe('do not delete');
  });

  it('a directory: UNSAFE_PATH, and the directory is untouched', async () => {
    const path = join(tmpDir(), 'a-dir');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    const e = await listenError(path);
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toMatch(/is a directory/);
    expect(readFileSync(join(path, 'inside'), 'utf8')).toBe('x');
  });

  it('a symlink (even to a stale socket): UNSAFE_PATH, and neither link nor target is touched', async () => {
    const dir = tmpDir();
    await makeStaleSocket(join(dir, 'real.sock'));
    symlinkSync(join(dir, 'real.sock'), join(dir, 'link.sock'));
    const e = await listenError(join(dir, 'link.sock'));
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toMatch(/symbolic link/);
    expect(lstatSync(join(dir, 'link.sock')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(dir, 'real.sock')).isSocket()).toBe(true);
  });

  it('a dangling symlink: UNSAFE_PATH, and it is not removed', async () => {
    const dir = tmpDir();
    symlinkSync(join(dir, 'nowhere'), join(dir, 'link.sock'));
    expect((await listenError(join(dir, 'link.sock'))).code).toBe('UNSAFE_PATH');
    expect(lstatSync(join(dir, 'link.sock')).isSymbolicLink()).toBe(true);
  });

  it('a FIFO: UNSAFE_PATH', async () => {
    const dir = tmpDir();
    const { spawnSync } = await import('node:child_process');
    expect(spawnSync('mkfifo', [join(dir, 'fifo')], { timeout: 5_000 }).status).toBe(0);
    const e = await listenError(join(dir, 'fifo'));
    expect(e.code).toBe('UNSAFE_PATH');
    expect(e.message).toMatch(/FIFO/);
    expect(lstatSync(join(dir, 'fifo')).isFIFO()).toBe(true);
  });

  // libuv turns bind()'s ENOENT into EACCES (for Windows' sake), so the errno alone says "permission denied".
  it('a missing directory: NOT_FOUND', async () => {
    const e = await listenError(join(tmpDir(), 'no', 'such', 'dir', 's.sock'));
    expect(e.code).toBe('NOT_FOUND');
    expect(e.message).toMatch(/the directory .*no\/such\/dir does not exist/);
  });

  it('a directory the user may not write: PERMISSION_DENIED (as uid 65534)', async () => {
    requireRoot('setpriv to uid 65534, because root may write anywhere');
    const dir = tmpDir();
    chmodSync(dir, 0o755);
    const r = await runAsNobody('serve', join(dir, 's.sock'));
    expect(r).toMatchObject({ uid: 65534, ok: false, code: 'PERMISSION_DENIED' });
  });

  it('a too-long path: PATH_TOO_LONG before anything is created', async () => {
    const dir = tmpDir();
    const e = await listenError(join(dir, 'y'.repeat(120)));
    expect(e.code).toBe('PATH_TOO_LONG');
  });
});

describe('startServer(): close() and its own socket file', () => {
  it('removes its own socket file', async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await startServer(path);
    expect(lstatSync(path).isSocket()).toBe(true);
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  // libuv unlinks a bound pipe's path by name when the handle closes, which
  // bypasses removeSocketFile()'s same-inode check.
  it("does not remove another server's socket that took over the path", async () => {
    const path = join(tmpDir(), 's.sock');
    const server = await startServer(path);
    // Someone removes our socket file and a second server starts at the path.
    unlinkSync(path);
    const other = await serve(path, { reply: Buffer.from('other') });
    await server.close();
    expect(lstatSync(path).isSocket()).toBe(true);
    expect((await exchange(path, { payload: hi })).reply.toString()).toBe('other\n');
    await other.close();
  });

  it('an abstract name: listens, refuses a second server, frees the name on close', async () => {
    const name = uniqueAbstractName();
    const server = await startServer(name);
    expect(server.address()).toBe(name);
    const e = await listenError(name);
    expect(e.code).toBe('ADDRESS_IN_USE');
    expect((await exchange(name, { payload: hi })).reply.toString()).toMatch(OK_REPLY_RE);
    await server.close();
    expect((await exchange(name, { payload: hi })).error?.code).toBe('REFUSED');
    const again = await serve(name);
    expect((await exchange(name, { payload: hi })).ok).toBe(true);
    await again.close();
  });

  it('TCP: a port in use is ADDRESS_IN_USE', async () => {
    const first = await serve({ kind: 'tcp', host: '127.0.0.1', port: 0, display: '127.0.0.1:0' });
    const e = await listenError(first.address());
    expect(e.code).toBe('ADDRESS_IN_USE');
  });
});

describe('startServer(): listen backlog', () => {
  // Connects made in one synchronous run, so the server cannot accept in
  // between: Linux queues backlog + 1 of them, the rest fail with EAGAIN.
  it('backlog 1 on a path: the third queued connect finds the queue full', async () => {
    const path = join(tmpDir(), 's.sock');
    await serve(path, { backlog: 1 });
    const outcomes = await Promise.all(
      Array.from({ length: 5 }, () => new Promise<string>((resolve) => {
        const c = net.connect(path);
        onTestFinished(() => void c.destroy());
        c.once('connect', () => resolve('ok'));
        c.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      })),
    );
    expect(outcomes).toEqual(['ok', 'ok', 'EAGAIN', 'EAGAIN', 'EAGAIN']);
  });

  // net.Server#listen({ fd }) listens again with its own default of 511
  // unless the backlog is passed along with the fd.
  it('backlog 1 on an abstract name: the same', async () => {
    const name = uniqueAbstractName();
    await serve(name, { backlog: 1 });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      try {
        const fd = connectAbstractFd(Buffer.from(name.slice(1)));
        onTestFinished(() => closeSync(fd));
        outcomes.push('ok');
      } catch (e) {
        outcomes.push((e as NodeJS.ErrnoException).code ?? 'error');
      }
    }
    expect(outcomes.slice(0, 2)).toEqual(['ok', 'ok']);
    expect(outcomes.slice(2).every((o) => o === 'EAGAIN' || o === 'EWOULDBLOCK')).toBe(true);
  });
});

describe('inspectSocketFile() / removeSocketFile()', () => {
  it('tells absent, live, stale and not-socket apart', async () => {
    const dir = tmpDir();
    expect(await inspectSocketFile(join(dir, 'none'))).toEqual({ state: 'absent' });
    await serve(join(dir, 'live.sock'));
    expect(await inspectSocketFile(join(dir, 'live.sock'))).toEqual({ state: 'live' });
    await makeStaleSocket(join(dir, 'stale.sock'));
    expect(await inspectSocketFile(join(dir, 'stale.sock'))).toEqual({ state: 'stale', ino: statSync(join(dir, 'stale.sock')).ino });
    writeFileSync(join(dir, 'file'), '');
    expect(await inspectSocketFile(join(dir, 'file'))).toEqual({ state: 'not-socket', kind: 'regular file' });
  });

  it('removes only a socket, and only the same inode', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'file'), 'keep');
    expect(await removeSocketFile(join(dir, 'file'))).toBe(false);
    expect(existsSync(join(dir, 'file'))).toBe(true);
    await makeStaleSocket(join(dir, 'stale.sock'));
    const ino = lstatSync(join(dir, 'stale.sock')).ino;
    expect(await removeSocketFile(join(dir, 'stale.sock'), ino + 1)).toBe(false);
    expect(existsSync(join(dir, 'stale.sock'))).toBe(true);
    expect(await removeSocketFile(join(dir, 'stale.sock'), ino)).toBe(true);
    expect(existsSync(join(dir, 'stale.sock'))).toBe(false);
    expect(await removeSocketFile(join(dir, 'absent.sock'))).toBe(false);
  });
});
