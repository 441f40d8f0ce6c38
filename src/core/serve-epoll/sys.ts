/**
 * The system calls of the serve engine, bound through koffi (ffi.ts) as
 * libc.ts and bench's engine do (a call costs ~0.2 us of FFI on top of the
 * syscall). Bound on first use, once in each thread that uses them.
 */
import { cFunction, lastErrno } from '../ffi.js';

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
  const f = cFunction;
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
    errno: lastErrno,
  } as ServeSys;
  return sys;
}
