/**
 * The system calls bench's epoll engine makes, through koffi (ffi.ts). A call
 * costs ~0.2 us of FFI on top of the syscall, several times less than
 * node:net's per-request path, which is what lets one worker thread keep up
 * with a C client. Bound on first use, in each thread that uses them; also the
 * open-file limit and per-thread CPU time.
 */
import { type CFunction, E, addressOf, cFunction, lastErrno } from '../socket/ffi.js';

export interface Sys {
  socket(domain: number, type: number, proto: number): number;
  connect(fd: number, addr: Uint8Array, len: number): number;
  close(fd: number): number;
  /** read(2) into memory at a raw address (see address()); len < 2^31. */
  readAt(fd: number, addr: number, len: number): number;
  /** send(2) from memory at a raw address; len < 2^31. */
  sendAt(fd: number, addr: number, len: number, flags: number): number;
  shutdown(fd: number, how: number): number;
  epollCreate(flags: number): number;
  epollCtl(ep: number, op: number, fd: number, ev: Uint8Array): number;
  /** epoll_pwait2 when the kernel has it (ns timeout), else epoll_wait (ms, rounded up). */
  epollWait(ep: number, evs: Uint8Array, max: number, timeoutMs: number): number;
  getsockopt(fd: number, level: number, name: number, val: Uint8Array, len: Uint8Array): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  inetPton(af: number, src: string, dst: Uint8Array): number;
  errno(): number;
  /**
   * The address of a buffer's memory, for readAt/sendAt. Passing a number
   * instead of a Buffer skips koffi's per-call buffer checks (~0.1 us a call).
   * Only for buffers that live as long as the calls and are not on the V8 heap
   * (Buffer.alloc of 64+ bytes), so their memory never moves.
   */
  address(buf: Uint8Array): number;
}

let sys: Sys | undefined;

/** The engine's system calls; throws when they cannot load here (not Linux, no koffi build). */
export function loadSys(): Sys {
  if (sys) return sys;
  if (process.platform !== 'linux') throw new Error('the epoll engine needs Linux');
  const f = cFunction;
  const epollWait = f('int epoll_wait(int, uint8_t *evs, int max, int timeout)');
  let pwait2: CFunction | undefined;
  try {
    pwait2 = f('int epoll_pwait2(int, uint8_t *evs, int max, const uint8_t *ts, const uint8_t *sigmask)');
  } catch {
    pwait2 = undefined; // glibc older than 2.35
  }
  const ts = new Uint8Array(16);
  const tsView = new DataView(ts.buffer);
  const wait = (ep: number, evs: Uint8Array, max: number, timeoutMs: number): number => {
    if (pwait2) {
      const ns = Math.max(0, Math.round(timeoutMs * 1e6));
      tsView.setUint32(0, Math.floor(ns / 1e9), true);
      tsView.setUint32(8, ns % 1e9, true);
      const n = pwait2(ep, evs, max, ts, null);
      if (n >= 0 || lastErrno() !== E.ENOSYS) return n;
      pwait2 = undefined; // kernel older than 5.11
    }
    return epollWait(ep, evs, max, Math.ceil(timeoutMs));
  };
  sys = {
    socket: f('int socket(int, int, int)'),
    connect: f('int connect(int, const uint8_t *addr, uint32_t len)'),
    close: f('int close(int)'),
    readAt: f('int read(int, intptr_t buf, int len)'),
    sendAt: f('int send(int, intptr_t buf, int len, int flags)'),
    shutdown: f('int shutdown(int, int)'),
    epollCreate: f('int epoll_create1(int)'),
    epollCtl: f('int epoll_ctl(int, int, int, const uint8_t *ev)'),
    epollWait: wait,
    getsockopt: f('int getsockopt(int, int, int, uint8_t *val, uint8_t *len)'),
    setsockopt: f('int setsockopt(int, int, int, const uint8_t *val, uint32_t len)'),
    inetPton: f('int inet_pton(int, const char *src, uint8_t *dst)'),
    errno: lastErrno,
    address: addressOf,
  } as Sys;
  return sys;
}

type Rusage = (who: number, buf: Uint8Array) => number;
let rusage: Rusage | null | undefined;
const ruBuf = new Uint8Array(144);
const ruView = new DataView(ruBuf.buffer);

/**
 * This thread's CPU time in ms (getrusage RUSAGE_THREAD, Linux), or null where
 * there is no per-thread figure.
 */
export function threadCpuMs(): { user: number; system: number } | null {
  if (rusage === undefined) {
    try {
      rusage = process.platform === 'linux' ? (cFunction('int getrusage(int, _Out_ uint8_t *ru)') as unknown as Rusage) : null;
    } catch {
      rusage = null;
    }
  }
  if (!rusage || rusage(1 /* RUSAGE_THREAD */, ruBuf) !== 0) return null;
  const tv = (o: number) => Number(ruView.getBigInt64(o, true)) * 1000 + Number(ruView.getBigInt64(o + 8, true)) / 1000;
  return { user: tv(0), system: tv(16) };
}

export interface FileLimit {
  soft: number;
  hard: number;
}

const RLIMIT_NOFILE = process.platform === 'darwin' ? 8 : 7;

/**
 * Make room for `needed` open files: raise the soft limit (and, where we are
 * allowed, the hard one). Node has no setrlimit; libc does. Returns the limit
 * in force afterwards, or null when it cannot be read here.
 */
export function raiseOpenFileLimit(needed: number): FileLimit | null {
  let get: (r: number, b: Uint8Array) => number;
  let set: (r: number, b: Uint8Array) => number;
  try {
    get = cFunction('int getrlimit(int, _Out_ uint8_t *rl)') as typeof get;
    set = cFunction('int setrlimit(int, const uint8_t *rl)') as typeof set;
  } catch {
    return null;
  }
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  if (get(RLIMIT_NOFILE, b) !== 0) return null;
  const read = (): FileLimit => {
    const cap = (x: bigint) => (x > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(x));
    return { soft: cap(v.getBigUint64(0, true)), hard: cap(v.getBigUint64(8, true)) };
  };
  const cur = read();
  if (cur.soft >= needed) return cur;
  const trySet = (soft: number, hard: number): boolean => {
    v.setBigUint64(0, BigInt(soft), true);
    v.setBigUint64(8, BigInt(hard), true);
    return set(RLIMIT_NOFILE, b) === 0;
  };
  // Root (CAP_SYS_RESOURCE) may raise the hard limit too; others only up to it.
  if (!(cur.hard < needed && trySet(needed, needed))) trySet(Math.min(needed, cur.hard), cur.hard);
  get(RLIMIT_NOFILE, b);
  return read();
}
