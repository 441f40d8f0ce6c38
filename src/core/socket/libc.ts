/**
 * The one set of libc bindings of the core (through koffi, ffi.ts): each C
 * call is declared here, once per way it is called. Bound on first use, once
 * in each thread that uses them; a call costs ~0.2 us of FFI on top of the
 * system call, several times less than node:net's per-request path, which is
 * what lets one engine thread keep up with a C peer. Groups, so that a command
 * that needs only the portable calls never binds the Linux-only ones:
 * - libc(): socket, connect, bind, listen, close, send, recv, poll, read, inet_pton,
 *   and for message sockets (dgram, seqpacket) sendto, recvfrom
 *   and poll on koffi's worker threads (pollAsync: the event loop never blocks)
 * - epollLibc(): accept4, shutdown, the epoll calls, socket options, the
 *   raw-address read/send of bench's hot path, and recvmsg (a datagram with its
 *   sender's SCM_CREDENTIALS: serve --type dgram) (Linux only)
 * - threadCpuMs(), raiseOpenFileLimit(): getrusage, getrlimit/setrlimit
 */
import { type CFunction, E, addressOf, cFunction, lastErrno } from './ffi.js';

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
  /** inet_pton(3): 1 when `src` is an address of family `af` (written to dst). */
  inetPton(af: number, src: string, dst: Uint8Array): number;
  errno(): number;
}

export interface EpollLibc extends Libc {
  accept4(fd: number, addr: null, len: null, flags: number): number;
  shutdown(fd: number, how: number): number;
  epollCreate(flags: number): number;
  epollCtl(ep: number, op: number, fd: number, ev: Uint8Array | null): number;
  /** epoll_pwait2 when the kernel has it (ns timeout), else epoll_wait (ms, rounded up). */
  epollWait(ep: number, evs: Uint8Array, max: number, timeoutMs: number): number;
  getsockopt(fd: number, level: number, name: number, val: Uint8Array, len: Uint8Array): number;
  setsockopt(fd: number, level: number, name: number, val: Uint8Array, len: number): number;
  /** read(2) into memory at a raw address (see address()). */
  readAt(fd: number, addr: number, len: number): number;
  /** send(2) from memory at a raw address. */
  sendAt(fd: number, addr: number, len: number, flags: number): number;
  /** recvmsg(2): `msg` is a struct msghdr whose pointers are raw addresses (see message.ts's CredentialReceiver); written in place. */
  recvmsg(fd: number, msg: Uint8Array, flags: number): number;
  /**
   * The address of a buffer's memory, for readAt/sendAt. Passing a number
   * instead of a Buffer skips koffi's per-call buffer checks (~0.1 us a call).
   * Only for buffers that live as long as the calls and are not on the V8 heap
   * (Buffer.alloc of 64+ bytes), so their memory never moves.
   */
  address(buf: Uint8Array): number;
  /**
   * stat(2) of a NUL-terminated path into memory at a raw address (a struct
   * stat: st_dev at 0 and st_ino at 8, both 64-bit, on x86-64 and arm64);
   * undefined where this libc has no `stat` symbol (glibc before 2.33) or the
   * layout differs: use node:fs there.
   */
  statAt?: (path: Uint8Array, buf: number) => number;
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
    inetPton: cFunction('int inet_pton(int, const char *src, uint8_t *dst)'),
    errno: lastErrno,
  } as Libc;
  return portable;
}

/** epoll_wait with a sub-millisecond timeout where the kernel (5.11) and glibc (2.35) have epoll_pwait2. */
function epollWaitFunction(): EpollLibc['epollWait'] {
  const epollWait = cFunction('int epoll_wait(int, uint8_t *evs, int max, int timeout)');
  let pwait2: CFunction | undefined;
  try {
    pwait2 = cFunction('int epoll_pwait2(int, uint8_t *evs, int max, const uint8_t *ts, const uint8_t *sigmask)');
  } catch {
    pwait2 = undefined; // glibc older than 2.35
  }
  const ts = new Uint8Array(16);
  const tsView = new DataView(ts.buffer);
  return (ep, evs, max, timeoutMs) => {
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
}

function statAtFunction(): EpollLibc['statAt'] {
  if (process.arch !== 'x64' && process.arch !== 'arm64') return undefined;
  try {
    return cFunction('int stat(const uint8_t *path, intptr_t buf)') as EpollLibc['statAt'];
  } catch {
    return undefined;
  }
}

/** The portable calls and the epoll engines'; throws where they cannot load (not Linux, no koffi build). */
export function epollLibc(): EpollLibc {
  if (linux) return linux;
  if (process.platform !== 'linux') throw new Error('the epoll engine needs Linux');
  linux = {
    ...libc(),
    accept4: cFunction('int accept4(int, void *addr, void *len, int flags)'),
    shutdown: cFunction('int shutdown(int, int)'),
    epollCreate: cFunction('int epoll_create1(int)'),
    epollCtl: cFunction('int epoll_ctl(int, int, int, const uint8_t *ev)'),
    epollWait: epollWaitFunction(),
    getsockopt: cFunction('int getsockopt(int, int, int, uint8_t *val, uint8_t *len)'),
    setsockopt: cFunction('int setsockopt(int, int, int, const uint8_t *val, uint32_t len)'),
    readAt: cFunction('int read(int, intptr_t buf, int len)'),
    sendAt: cFunction('int send(int, intptr_t buf, int len, int flags)'),
    recvmsg: cFunction('long recvmsg(int, uint8_t *msg, int flags)'),
    address: addressOf,
    statAt: statAtFunction(),
  } as EpollLibc;
  return linux;
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

// The interactive session's calls (send --interactive): their own group, bound only by a session.
export interface SessionLibc {
  /** Discard a terminal's unread input (TCIFLUSH). */
  tcflush(fd: number, queue: number): number;
  dup(fd: number): number;
}
let session: SessionLibc | undefined;

/** tcflush(3) and dup(2) for the interactive session; throws where they cannot load. */
export function sessionLibc(): SessionLibc {
  session ??= { tcflush: cFunction('int tcflush(int, int)'), dup: cFunction('int dup(int)') } as SessionLibc;
  return session;
}

// ls's scan of /proc/PID/fd (core/ls/holders.ts): a directory read into a buffer and one
// readlinkat(2) per entry, without a JS string per descriptor (about half the cost of fs's).
export interface ProcFdLibc {
  /** open(2) with O_RDONLY|O_DIRECTORY|O_CLOEXEC; -1 on failure (errno()). */
  openDir(path: string): number;
  /** getdents64(2) into buf: bytes read, 0 at the end, -1 on failure. */
  getdents64(fd: number, buf: Uint8Array, len: number): number;
  /** readlinkat(2) of a NUL-terminated name (a view into getdents64's buffer) into buf. */
  readlinkat(dirfd: number, name: Uint8Array, buf: Uint8Array, len: number): number;
  close(fd: number): number;
  errno(): number;
}
let procFd: ProcFdLibc | null | undefined;
const O_DIRECTORY_CLOEXEC = 0o200000 | 0o2000000;

/** The calls of the /proc fd scan (Linux); null where they cannot load (ls then uses node:fs). */
export function procFdLibc(): ProcFdLibc | null {
  if (procFd !== undefined) return procFd;
  try {
    const open = cFunction('int open(const char *path, int flags)');
    procFd = {
      openDir: (p: string) => open(p, O_DIRECTORY_CLOEXEC) as number,
      getdents64: cFunction('long getdents64(int, _Out_ uint8_t *buf, size_t len)'),
      readlinkat: cFunction('long readlinkat(int, const uint8_t *name, _Out_ uint8_t *buf, size_t len)'),
      close: cFunction('int close(int)'),
      errno: lastErrno,
    } as ProcFdLibc;
  } catch {
    procFd = null;
  }
  return procFd;
}
