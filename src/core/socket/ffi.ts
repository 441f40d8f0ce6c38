/**
 * libc through koffi (FFI, prebuilt binaries in the npm package), for what
 * Node's own modules cannot do: abstract socket names with their exact length
 * (libc.ts), the epoll engines of bench and serve, setrlimit and per-thread
 * CPU time. Loaded on first use, once in each thread that uses it, so a
 * command that needs none of it pays nothing; a call costs ~0.2 us of FFI on
 * top of the system call. The one place that loads koffi, and the constants
 * and errno names all its users share.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_SEQPACKET = 5;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLLIN = 0x001;
export const EPOLLOUT = 0x004;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
/** Wake one waiter per event on a descriptor shared by several epoll sets (Linux 4.5). */
export const EPOLLEXCLUSIVE = 1 << 28;
export const EPOLLET = 1 << 31;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const MSG_PEEK = 0x2;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;
/** poll(2)'s events: the one definition (message sockets, the session, serve's message engines). */
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const SHUT_WR = 1;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const IPPROTO_TCP = 6;
export const TCP_NODELAY = 1;

export const E = osConstants.errno;

/**
 * struct epoll_event is packed on x86-64 (12 bytes: events, then data at 4) and
 * naturally aligned elsewhere (16 bytes, data at 8).
 */
export const EPOLL_EVENT_SIZE = process.arch === 'x64' || process.arch === 'ia32' ? 12 : 16;
export const EPOLL_DATA_OFFSET = EPOLL_EVENT_SIZE === 12 ? 4 : 8;

// errno -> name; the first name wins (EAGAIN, not its alias EWOULDBLOCK).
const ERRNO_NAMES = new Map<number, string>();
for (const [k, v] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(v as number)) ERRNO_NAMES.set(v as number, k);

/** ECONNREFUSED for 111, etc. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `E${errno}`;
}

/** A C function bound by koffi; numbers in, a number out. */
export type CFunction = (...args: unknown[]) => number;

interface Koffi {
  load(name: string): { func(sig: string): CFunction };
  errno(): number;
  address(buf: Uint8Array): bigint;
}

let koffi: Koffi | undefined;
let lib: ReturnType<Koffi['load']> | undefined;

function loaded(): { koffi: Koffi; lib: ReturnType<Koffi['load']> } {
  if (!koffi || !lib) {
    const require = createRequire(import.meta.url);
    koffi = require('koffi') as Koffi;
    lib = koffi.load(process.platform === 'darwin' ? 'libSystem.B.dylib' : 'libc.so.6');
  }
  return { koffi, lib };
}

/** Bind a libc function by its C declaration; throws where koffi or the function is missing. */
export function cFunction(declaration: string): CFunction {
  return loaded().lib.func(declaration);
}

/** errno as the last bound call left it. */
export function lastErrno(): number {
  return loaded().koffi.errno();
}

/** The address of a buffer's memory (see bench's Sys.address). */
export function addressOf(buf: Uint8Array): number {
  return Number(loaded().koffi.address(buf));
}
