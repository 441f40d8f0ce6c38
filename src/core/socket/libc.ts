/**
 * The one set of libc bindings of the core (through koffi, ffi.ts): each C
 * call is declared once, here, with one signature. Bound on first use, once in
 * each thread that uses them; a call costs ~0.2 us of FFI on top of the system
 * call. Two groups, so that a command that needs only the portable calls never
 * binds the Linux-only ones:
 * - libc(): socket, connect, bind, listen, close, send, recv, poll, read,
 *   and for message sockets (dgram, seqpacket) sendto, recvfrom, getsockopt
 *   and poll on koffi's worker threads (pollAsync: the event loop never blocks)
 * - epollLibc(): accept4, shutdown and the epoll calls (Linux only)
 * (bench/syscalls.ts still has its own table; it moves here with the bench rewrite.)
 */
import { cFunction, lastErrno } from './ffi.js';

export interface Libc {
  socket(domain: number, type: number, proto: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  bind(fd: number, addr: Uint8Array, len: number): number;
  listen(fd: number, backlog: number): number;
  close(fd: number): number;
  /** Writes into buf (declared _Out_). */
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  poll(fds: Uint8Array, nfds: number, timeout: number): number;
  /** poll(2) on one of koffi's threads: resolves with poll's result (errno is not kept across threads). */
  pollAsync(fds: Uint8Array, nfds: number, timeout: number): Promise<number>;
  /** `addr` null: the connected peer. */
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array | null, alen: number): number;
  /** Writes into buf and addr; alen is a 4-byte in/out length. */
  recvfrom(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, alen: Uint8Array): number;
  /** Writes into val; len is a 4-byte in/out length. */
  getsockopt(fd: number, level: number, name: number, val: Uint8Array, len: Uint8Array): number;
  errno(): number;
}

export interface EpollLibc extends Libc {
  accept4(fd: number, addr: null, len: null, flags: number): number;
  shutdown(fd: number, how: number): number;
  epollCreate(flags: number): number;
  epollCtl(ep: number, op: number, fd: number, ev: Uint8Array | null): number;
  epollWait(ep: number, evs: Uint8Array, max: number, timeoutMs: number): number;
}

let portable: Libc | undefined;
let linux: EpollLibc | undefined;

/** The portable socket calls; throws where koffi cannot load. */
export function libc(): Libc {
  if (portable) return portable;
  const poll = cFunction('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)');
  portable = {
    socket: cFunction('int socket(int, int, int)'),
    connect: cFunction('int connect(int, const uint8_t *addr, uint32_t len)'),
    bind: cFunction('int bind(int, const uint8_t *addr, uint32_t len)'),
    listen: cFunction('int listen(int, int)'),
    close: cFunction('int close(int)'),
    recv: cFunction('long recv(int, _Out_ uint8_t *buf, size_t len, int flags)'),
    send: cFunction('long send(int, const uint8_t *buf, size_t len, int flags)'),
    read: cFunction('long read(int, uint8_t *buf, size_t len)'),
    poll,
    pollAsync: (fds: Uint8Array, nfds: number, timeout: number) =>
      new Promise<number>((resolve, reject) => {
        (poll as unknown as { async: (...a: unknown[]) => void }).async(fds, nfds, timeout, (err: unknown, n: number) => (err ? reject(err) : resolve(n)));
      }),
    sendto: cFunction('long sendto(int, const uint8_t *buf, size_t len, int flags, const uint8_t *addr, uint32_t alen)'),
    recvfrom: cFunction('long recvfrom(int, _Out_ uint8_t *buf, size_t len, int flags, _Out_ uint8_t *addr, _Inout_ uint8_t *alen)'),
    getsockopt: cFunction('int getsockopt(int, int, int, _Out_ uint8_t *val, _Inout_ uint8_t *len)'),
    errno: lastErrno,
  } as Libc;
  return portable;
}

/** The portable calls and the epoll engine's; throws where they cannot load (not Linux, no koffi build). */
export function epollLibc(): EpollLibc {
  if (linux) return linux;
  if (process.platform !== 'linux') throw new Error('the epoll engine needs Linux');
  linux = {
    ...libc(),
    accept4: cFunction('int accept4(int, void *addr, void *len, int flags)'),
    shutdown: cFunction('int shutdown(int, int)'),
    epollCreate: cFunction('int epoll_create1(int)'),
    epollCtl: cFunction('int epoll_ctl(int, int, int, const uint8_t *ev)'),
    epollWait: cFunction('int epoll_wait(int, uint8_t *evs, int max, int timeout)'),
  } as EpollLibc;
  return linux;
}
