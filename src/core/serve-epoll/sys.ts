/**
 * The system calls of the serve engine, bound through koffi as libc.ts and
 * the bench engine do (a call costs ~0.2 us of FFI on top of the syscall).
 * Loaded on first use, once in each thread that uses it. Constants and the
 * epoll_event layout come from the bench engine's module.
 */
import { createRequire } from 'node:module';

export {
  E,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_CTL_MOD,
  EPOLL_DATA_OFFSET,
  EPOLL_EVENT_SIZE,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  AF_UNIX,
  errnoName,
} from '../bench/syscalls.js';

/** Wake one waiter per event on a descriptor shared by several epoll sets (Linux 4.5). */
export const EPOLLEXCLUSIVE = 1 << 28;

export interface ServeSys {
  accept4(fd: number, addr: null, len: null, flags: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  shutdown(fd: number, how: number): number;
  close(fd: number): number;
  socket(domain: number, type: number, proto: number): number;
  epollCreate(flags: number): number;
  epollCtl(ep: number, op: number, fd: number, ev: Uint8Array | null): number;
  epollWait(ep: number, evs: Uint8Array, max: number, timeoutMs: number): number;
  errno(): number;
}

let sys: ServeSys | undefined;

/** The engine's system calls; throws where they cannot load (not Linux, no koffi build). */
export function loadServeSys(): ServeSys {
  if (sys) return sys;
  if (process.platform !== 'linux') throw new Error('the epoll engine needs Linux');
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as {
    load(name: string): { func(sig: string): (...args: unknown[]) => number };
    errno(): number;
  };
  const lib = koffi.load('libc.so.6');
  const f = (sig: string) => lib.func(sig);
  sys = {
    accept4: f('int accept4(int, void *addr, void *len, int flags)'),
    read: f('long read(int, uint8_t *buf, size_t len)'),
    send: f('long send(int, const uint8_t *buf, size_t len, int flags)'),
    shutdown: f('int shutdown(int, int)'),
    close: f('int close(int)'),
    socket: f('int socket(int, int, int)'),
    epollCreate: f('int epoll_create1(int)'),
    epollCtl: f('int epoll_ctl(int, int, int, const uint8_t *ev)'),
    epollWait: f('int epoll_wait(int, uint8_t *evs, int max, int timeout)'),
    errno: () => koffi.errno(),
  } as ServeSys;
  return sys;
}
