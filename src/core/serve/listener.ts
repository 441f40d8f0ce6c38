/**
 * The listening socket every serve engine uses: the socket file's checks (a
 * stale file replaced, a live server or a non-socket refused), the group looked
 * up before anything exists on disk, the mode set through the umask, the exact
 * address bound through libc, and bind's errors in serve's words. An engine
 * gets a descriptor to accept on and owns nothing of this.
 */
import { promises as fsp, constants as fsConstants, closeSync, fstatSync, lstatSync, linkSync, lchownSync, mkdtempSync, openSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import type net from 'node:net';
import { dirname, join } from 'node:path';
import { UdsError } from '../errors.js';
import { SOCK_STREAM } from '../socket/ffi.js';
import { listenAbstractFd, listenPathFd } from '../socket/fd.js';
import { inspectSocketFile, removeSocketFile } from '../socket/socket-file.js';
import type { Target } from '../socket/target.js';
import { SERVE_DEFAULTS } from './options.js';
import { type ServeOptions, drainAcceptQueue } from './protocol.js';

/** bind(2)/listen(2)'s error as serve reports it. */
export function bindError(err: NodeJS.ErrnoException, t: Target): UdsError {
  const target = t.display;
  switch (err.code) {
    case 'EADDRINUSE':
      return new UdsError('ADDRESS_IN_USE', `${target}: in use: another server is bound there`, { target, cause: err });
    case 'EACCES':
    case 'EPERM':
      return new UdsError('PERMISSION_DENIED', `${target}: permission denied creating the socket`, { target, cause: err });
    case 'ENOENT':
    case 'ENOTDIR':
      return new UdsError('NOT_FOUND', `${target}: the directory ${t.kind === 'unix' ? `${dirname(t.path)} ` : ''}does not exist`, {
        target,
        cause: err,
      });
    default:
      return new UdsError('IO_ERROR', `${target}: ${err.message}`, { target, cause: err });
  }
}

/** The listening socket bindListener() made: its descriptor (none for TCP: net binds that), the file it owns, its group. */
export interface BoundListener {
  fd?: number;
  ownedPath?: { path: string; ino: number };
  replacedStale: boolean;
  gid?: number;
  /** The socket's type (SOCK_STREAM, SOCK_SEQPACKET): what its connections are. */
  socketType: number;
}

/**
 * Make the listening socket as serve does for either engine: a stale file is
 * replaced, a live server or a non-socket refused, the group looked up before
 * anything exists on disk, the mode set through the umask, the exact address
 * bound through libc. The caller sets the group once it listens (setSocketGroup).
 * `socketType`: the socket's type, SOCK_STREAM unless said (TCP: always stream).
 */
export async function bindListener(t: Target, options: ServeOptions, socketType = SOCK_STREAM): Promise<BoundListener> {
  const backlog = options.backlog ?? SERVE_DEFAULTS.backlog;
  let replacedStale = false;
  if (t.kind === 'unix') {
    const state = await inspectSocketFile(t.path);
    if (state.state === 'live') {
      throw new UdsError('ADDRESS_IN_USE', `${t.display}: in use: a server is already listening there`, { target: t.display });
    }
    if (state.state === 'not-socket') {
      throw new UdsError(
        'UNSAFE_PATH',
        `${t.display}: exists and is a ${state.kind}, not a socket; refusing to replace it (remove it yourself if it is safe)`,
        { target: t.display },
      );
    }
    if (state.state === 'stale') {
      if (options.replaceStale === false) {
        throw new UdsError('ADDRESS_IN_USE', `${t.display}: a stale socket file is in the way`, { target: t.display });
      }
      replacedStale = await removeSocketFile(t.path, state.ino);
    }
  }
  // Look the group up before anything exists on disk: a bad --group must leave nothing behind.
  const gid = options.group === undefined ? undefined : await lookupGid(options.group);
  let fd: number | undefined;
  let ownedPath: BoundListener['ownedPath'];
  try {
    if (t.kind === 'unix') {
      // The mode is set through the umask so the file never exists with wider permissions.
      const perm = options.perm;
      ownedPath = bindPath(t, gid, (at) => {
        const old = perm === undefined ? undefined : process.umask(~perm & 0o777);
        try {
          fd = listenPathFd(at, backlog, socketType);
        } finally {
          if (old !== undefined) process.umask(old);
        }
      });
    } else if (t.kind === 'abstract') {
      fd = listenAbstractFd(t.name, backlog, socketType);
    }
  } catch (err) {
    // Bound but not given its group or put in place: the socket goes (its private name is gone already).
    if (fd !== undefined) closeSync(fd);
    throw err instanceof UdsError ? err : bindError(err as NodeJS.ErrnoException, t);
  }
  // The group is already the socket's (bindPath): nothing is left to do by name.
  return { fd, ownedPath, replacedStale, gid: undefined, socketType };
}

/**
 * Bind a socket file at `t.path` (`bind(at)` makes the socket, under the
 * caller's umask) with its group `gid` set where no other user can reach it.
 * A chown by name after bind would follow whatever another user who may write
 * the directory put there meanwhile (their setgid directory, a hard link to any
 * file): so with a group the socket is bound inside a fresh private (0700)
 * directory beside the path, given its group there, then hard-linked into
 * place (link(2) never replaces: a file that appeared meanwhile is
 * ADDRESS_IN_USE) and the private name removed. The private directory is
 * named once, to open it: its name sits in a directory the other user may
 * write, where they may rename it and put their own under that name (no sticky
 * bit, no right on ours needed). So it is opened without following a symlink,
 * checked to be ours, 0700 and empty, and from then on reached only through
 * its descriptor (/proc/self/fd/N/s): bind, chown and link all land in it.
 * Without a group: bound in place. Returns the file bound and its inode (what
 * close() may remove). Synchronous, so no other work of ours runs while the
 * private directory exists. `afterMkdtemp` is for tests: another user's move
 * between mkdtemp and open.
 */
export function bindPath(
  t: Extract<Target, { kind: 'unix' }>,
  gid: number | undefined,
  bind: (at: string) => void,
  afterMkdtemp?: (dir: string) => void,
): { path: string; ino: number } {
  if (gid === undefined) {
    bind(t.path);
    return { path: t.path, ino: lstatSync(t.path).ino };
  }
  const dir = mkdtempSync(join(dirname(t.path), '.u'));
  afterMkdtemp?.(dir);
  let dfd: number;
  try {
    dfd = openSync(dir, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    throw new UdsError('UNSAFE_PATH', `${t.display}: the private directory ${dir} made beside it was replaced before it could be opened: another user may write ${dirname(t.path)}`, { target: t.display, cause: err });
  }
  const own = fstatSync(dfd);
  const at = `/proc/self/fd/${dfd}/s`;
  let bound = false;
  try {
    const uid = process.geteuid?.() ?? own.uid;
    if (!own.isDirectory() || own.uid !== uid || (own.mode & 0o7777) !== 0o700 || readdirSync(`/proc/self/fd/${dfd}`).length !== 0) {
      throw new UdsError('UNSAFE_PATH', `${t.display}: the private directory ${dir} made beside it was replaced by one that is not ours alone (owner uid ${own.uid}, mode ${(own.mode & 0o7777).toString(8)}): another user may write ${dirname(t.path)}`, { target: t.display });
    }
    bind(at);
    bound = true;
    try {
      lchownSync(at, -1, gid);
    } catch (err) {
      throw new UdsError('PERMISSION_DENIED', `${t.display}: cannot set the group of the socket file: ${(err as Error).message}`, { target: t.display, cause: err });
    }
    const ino = lstatSync(at).ino;
    try {
      linkSync(at, t.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new UdsError('ADDRESS_IN_USE', `${t.display}: in use: a file appeared there while the socket was made`, { target: t.display, cause: err });
      }
      throw err;
    }
    return { path: t.path, ino };
  } finally {
    if (bound) unlinkSync(at);
    closeSync(dfd);
    // By name again: removed only while that name is still our (now empty) directory; else it stays where it was moved.
    try {
      if (lstatSync(dir).ino === own.ino) rmdirSync(dir);
    } catch {
      // gone or moved: nothing of ours is left in it
    }
  }
}

/** Give the socket file its group (--group). */
export async function setSocketGroup(path: string, gid: number, t: Target): Promise<void> {
  try {
    await fsp.lchown(path, -1, gid);
  } catch (err) {
    throw new UdsError('PERMISSION_DENIED', `${t.display}: cannot set the group of the socket file: ${(err as Error).message}`, {
      target: t.display,
      cause: err,
    });
  }
}

/** --group's gid: a number as it is, a name from /etc/group; BAD_OPTION when there is no such group. */
export async function lookupGid(group: string | number): Promise<number> {
  if (typeof group === 'number') return group;
  const name = group;
  if (/^\d+$/.test(name)) return Number(name);
  const text = await fsp.readFile('/etc/group', 'utf8');
  for (const line of text.split('\n')) {
    const [n, , gid] = line.split(':');
    if (n === name) return Number(gid);
  }
  throw new UdsError('BAD_OPTION', `--group: no group named "${name}"`);
}

/**
 * Set up a node:net server (a new one, or one received from the primary
 * process) as the net engine and the tap both need: paused on connect (nothing
 * is read before the connection's handler decides: the reset fault must not
 * read), half-open allowed, each connection to `onConnection`, and with
 * `maxConns` the excess closed by Node and reported to `onDrop`.
 */
export function configureNetServer(server: net.Server, onConnection: (s: net.Socket) => void, maxConns: number | undefined, onDrop: () => void): net.Server {
  // Both are plain properties of net.Server, set by its constructor options.
  const cfg = server as net.Server & { pauseOnConnect: boolean; allowHalfOpen: boolean };
  cfg.pauseOnConnect = true;
  cfg.allowHalfOpen = true;
  server.on('connection', onConnection);
  if (maxConns !== undefined) {
    server.maxConnections = maxConns;
    server.on('drop', onDrop);
  }
  return server;
}

/**
 * Listen with a node:net server as serve does (the net engine, the tap): the
 * socket made by bindListener() handed to net by its descriptor (TCP: net
 * binds), then the group set. `own(bound)` is called as soon as the socket
 * exists, so the caller's close() knows the file it must remove; on a group
 * that cannot be set, `close()` runs and the error is thrown.
 */
export async function listenNet(
  server: net.Server,
  t: Target,
  options: ServeOptions,
  own: (bound: BoundListener) => void,
  close: () => Promise<void>,
): Promise<BoundListener> {
  const backlog = options.backlog ?? SERVE_DEFAULTS.backlog;
  const bound = await bindListener(t, options);
  own(bound);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      reject(bindError(err, t));
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // The backlog goes positionally: with { fd }, Node ignores options.backlog and listens with 511.
    if (bound.fd !== undefined) server.listen({ fd: bound.fd }, backlog);
    else if (t.kind === 'tcp') server.listen({ host: t.host, port: t.port, backlog });
  });
  if (bound.ownedPath && bound.gid !== undefined) {
    try {
      await setSocketGroup(bound.ownedPath.path, bound.gid, t);
    } catch (err) {
      await close();
      throw err;
    }
  }
  return bound;
}

/**
 * Drain-then-close with a node:net server (the net engine, the tap): our socket file unlinked first (no new client
 * can reach us), the accept queue drained, the listener closed; `end.held` ends at once what would only hold the
 * close (idle between requests, held by a fault), `end.all` the rest when the grace period is over.
 */
export async function closeNet(server: net.Server, options: ServeOptions, ownedPath: { path: string; ino: number } | undefined, acceptedSoFar: () => number, conns: { readonly size: number }, end: { held: () => void; all: () => void }): Promise<void> {
  if (ownedPath) await removeSocketFile(ownedPath.path, ownedPath.ino);
  const grace = options.graceTimeout ?? SERVE_DEFAULTS.graceTimeout;
  await drainAcceptQueue(acceptedSoFar, grace, () => server.listening);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    const timer = setTimeout(end.all, grace);
    timer.unref();
    end.held();
    if (conns.size === 0) clearTimeout(timer);
  });
}
