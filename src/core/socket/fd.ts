/**
 * The few socket calls Node's net cannot make.
 *
 * Linux abstract socket names (`@name`) through libc, because Node 20's net
 * module passes sizeof(sockaddr_un) as the address length and so binds or
 * connects to the name padded with NUL bytes (nodejs/node#49656): such a name
 * never meets the one socat, nc, Python or Go use. We make the socket with the
 * exact address length and hand the file descriptor to net.
 *
 * koffi (ffi.ts) is loaded on first use only, so other targets pay nothing
 * for it. The bindings are libc.ts's, the addresses sockaddr.ts's.
 */
import { AF_UNIX, MSG_DONTWAIT, MSG_PEEK, POLLHUP, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, errnoName } from './ffi.js';
import { type Libc, libc } from './libc.js';
import { sockaddrAbstract, sockaddrPath } from './sockaddr.js';

const load = libc;
const sockaddr = sockaddrAbstract;

/** An OS error of a call, as Node's own errors look (code, errno, syscall). */
export function errnoError(call: string, errno: number, label: string): NodeJS.ErrnoException {
  const code = errnoName(errno);
  const err = new Error(`${call} ${code} ${label}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -errno;
  err.syscall = call;
  return err;
}

function newSocket(c: Libc, label: string, type = SOCK_STREAM): number {
  const fd = c.socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw errnoError('socket', c.errno(), label);
  return fd;
}

/** Close `fd` and throw the errno its failed `call` left. */
function fail(c: Libc, fd: number, call: string, label: string): never {
  const errno = c.errno();
  c.close(fd);
  throw errnoError(call, errno, label);
}

/**
 * Connect a non-blocking socket to an address; returns the fd. A Unix-domain
 * connect completes at once or fails at once (EAGAIN when the listen backlog
 * is full), so this never blocks.
 */
function connectTo(addr: Buffer, label: string): number {
  const c = load();
  const fd = newSocket(c, label);
  if (c.connect(fd, addr, addr.length) !== 0) fail(c, fd, 'connect', label);
  return fd;
}

/** Connect to an abstract name (`@name`, as socat and Go mean it); returns the fd. */
export function connectAbstractFd(name: Buffer): number {
  return connectTo(sockaddr(name), `@${name.toString()}`);
}

/** Connect to a socket path given by its exact bytes (net.connect takes UTF-8 text only); returns the fd, as connectAbstractFd. */
export function connectPathFd(path: string, label: string): number {
  return connectTo(sockaddrPath(path), label);
}

function listenOn(addr: Buffer, label: string, backlog: number, type: number): number {
  const c = load();
  const fd = newSocket(c, label, type);
  if (c.bind(fd, addr, addr.length) !== 0) fail(c, fd, 'bind', label);
  if (c.listen(fd, backlog) !== 0) fail(c, fd, 'listen', label);
  return fd;
}

/** Bind and listen on an abstract name; returns the listening fd for net.Server#listen({ fd }). `type`: SOCK_STREAM or SOCK_SEQPACKET. */
export function listenAbstractFd(name: Buffer, backlog: number, type = SOCK_STREAM): number {
  return listenOn(sockaddr(name), `@${name.toString()}`, backlog, type);
}

/**
 * Bind and listen on a socket path; returns the fd. Used instead of
 * net.Server#listen({ path }) because libuv unlinks the path *by name* when the
 * handle closes, which would delete another server's socket if ours had been
 * replaced meanwhile; the owner removes its file itself, checking the inode.
 * The real errno comes back too (libuv reports a missing directory as EACCES).
 */
export function listenPathFd(path: string, backlog: number, type = SOCK_STREAM): number {
  return listenOn(sockaddrPath(path), path, backlog, type);
}

const peekBuf = Buffer.alloc(1);

/** Whether unread bytes wait in a socket's receive queue (recv with MSG_PEEK, never blocks). */
export function hasUnreadData(fd: number): boolean {
  return load().recv(fd, peekBuf, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

const pollfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }

/**
 * Whether the peer of a Unix stream socket closed both directions. Node sees a
 * half-close and a full close alike (one 'end'); the kernel tells them apart:
 * POLLHUP only when the peer is gone, not when it merely shut down writing.
 */
export function peerClosed(fd: number): boolean {
  pollfd.writeInt32LE(fd, 0);
  pollfd.writeInt16LE(0, 4);
  pollfd.writeInt16LE(0, 6);
  if (load().poll(pollfd, 1, 0) < 0) return false;
  return (pollfd.readInt16LE(6) & POLLHUP) !== 0;
}

/**
 * Copy the unread bytes at the head of a socket's receive queue into `buf`
 * without taking them (recv with MSG_PEEK, never blocks); the count, 0 when
 * none. The tap's reset fault relays a request this way and leaves it queued,
 * so that closing the socket makes the kernel report ECONNRESET to its peer.
 */
export function peekUnread(fd: number, buf: Buffer): number {
  const n = load().recv(fd, buf, buf.length, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 ? n : 0;
}
