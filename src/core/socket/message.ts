/**
 * A Unix datagram or seqpacket socket on a raw file descriptor: node:net
 * only does SOCK_STREAM (libuv takes no other Unix socket fd), so these go
 * through libc (libc.ts). Non-blocking; every wait is poll(2) run on koffi's
 * worker threads (pollAsync), in slices, so the event loop never blocks, an
 * abort is seen within a slice, and no wait outlives its deadline.
 * Each send is one message and each receive returns one whole message (or
 * its first `buf.length` bytes: the rest of that message is dropped by the
 * kernel, and the length says it was cut).
 */
import { nowMs } from '../clock.js';
import { AF_UNIX, E, MSG_DONTWAIT, MSG_NOSIGNAL, POLLERR, POLLHUP, POLLIN, POLLOUT, SHUT_WR, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET } from './ffi.js';
import { errnoError } from './fd.js';
import { type EpollLibc, type Libc, epollLibc, libc } from './libc.js';
import type { PeerCred } from './peer.js';
import { sockaddrAbstract, sockaddrPath } from './sockaddr.js';
import { SOCK_NUMBER } from './socket-type.js';
import type { Target } from './target.js';

export type { PeerCred };

const MSG_TRUNC = 0x20;
/** One poll(2) slice: how soon an abort or a closed socket is noticed. */
const SLICE_MS = 100;
/** sockaddr_un: 2 bytes of family, 108 of path. */
const SOCKADDR_UN_SIZE = 110;



/** The exact sockaddr_un of a Unix target (path or abstract name). */
export function sockaddrOf(t: Target): Buffer {
  if (t.kind === 'abstract') return sockaddrAbstract(t.name);
  if (t.kind === 'unix') return sockaddrPath(t.path);
  throw new Error(`${t.display}: not a Unix socket address`);
}

/**
 * A sender's address as recvfrom(2) gave it: a path, `@name` (abstract,
 * NUL bytes in it shown as @ as /proc/net/unix does), or '' (unbound: it cannot be answered).
 */
export function describeSockaddr(addr: Uint8Array, len: number): string {
  if (len <= 2) return '';
  const b = Buffer.from(addr.buffer, addr.byteOffset + 2, len - 2);
  if (b[0] === 0) return '@' + b.subarray(1).toString('latin1').replace(/\0/g, '@');
  const nul = b.indexOf(0);
  return (nul >= 0 ? b.subarray(0, nul) : b).toString('utf8');
}

export type WaitResult = 'ready' | 'hup' | 'timeout' | 'aborted' | 'closed';

export class MessageSocket {
  private readonly c: Libc;
  private readonly pfd = Buffer.alloc(8);
  private open = true;
  /** Runs once after close (a temporary reply address's folder is removed). */
  onClose?: () => void;

  private constructor(
    readonly fd: number,
    readonly type: 'dgram' | 'seqpacket',
    c: Libc,
  ) {
    this.c = c;
  }

  /** A new non-blocking socket of this type; throws an errno error (EMFILE...). */
  static create(type: 'dgram' | 'seqpacket', label: string): MessageSocket {
    const c = libc();
    const fd = c.socket(AF_UNIX, SOCK_NUMBER[type] | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw errnoError('socket', c.errno(), label);
    return new MessageSocket(fd, type, c);
  }

  /** Take over an fd (an accepted connection). */
  static adopt(fd: number, type: 'dgram' | 'seqpacket'): MessageSocket {
    return new MessageSocket(fd, type, libc());
  }

  private check(call: string, rc: number, label: string): void {
    if (rc !== 0) throw errnoError(call, this.c.errno(), label);
  }

  /** connect(2); a Unix connect completes at once or fails at once (EAGAIN: a full seqpacket backlog). */
  connect(addr: Buffer, label: string): void {
    this.check('connect', this.c.connect(this.fd, addr, addr.length), label);
  }

  bind(addr: Buffer, label: string): void {
    this.check('bind', this.c.bind(this.fd, addr, addr.length), label);
  }

  /** Linux autobind: the kernel picks a free abstract name (5 hex digits); nothing to clean up. */
  autobind(): void {
    const addr = Buffer.alloc(2);
    addr.writeUInt16LE(AF_UNIX, 0);
    this.check('bind', this.c.bind(this.fd, addr, 2), '(autobind)');
  }

  listen(backlog: number, label: string): void {
    this.check('listen', this.c.listen(this.fd, backlog), label);
  }

  /**
   * Send one message. Returns bytes sent, or -errno for EAGAIN (the receiver's
   * queue is full: wait writable and retry); throws for any other error.
   */
  trySend(buf: Uint8Array, label: string, to: Uint8Array | null = null): number {
    const n = this.c.sendto(this.fd, buf, buf.length, MSG_DONTWAIT | MSG_NOSIGNAL, to, to ? to.length : 0);
    if (n >= 0) return n;
    const errno = this.c.errno();
    if (errno === E.EAGAIN) return -errno;
    throw errnoError('send', errno, label);
  }

  /** Send one message, waiting (bounded) while the receiver's queue is full. */
  async send(buf: Uint8Array, label: string, deadline: number, signal?: AbortSignal, to: Uint8Array | null = null): Promise<WaitResult> {
    for (;;) {
      if (this.trySend(buf, label, to) >= 0) return 'ready';
      const w = await this.wait(POLLOUT, deadline, signal);
      if (w !== 'ready') return w;
    }
  }

  /**
   * Receive one message into buf without waiting: its length (the whole
   * message's, which may exceed buf.length: MSG_TRUNC), 0 for a seqpacket
   * peer that closed, -EAGAIN when none is queued. Throws for other errors
   * (ECONNRESET, ECONNREFUSED on a connected dgram socket whose peer went).
   */
  tryRecv(buf: Uint8Array, label: string, from?: { addr: Uint8Array; len: Uint8Array }): number {
    const addr = from?.addr ?? Buffer.alloc(0);
    const alen = from?.len ?? Buffer.alloc(4);
    alen[0] = addr.length; // little-endian uint32: SOCKADDR_UN_SIZE fits in a byte
    alen[1] = alen[2] = alen[3] = 0;
    const n = this.c.recvfrom(this.fd, buf, buf.length, MSG_DONTWAIT | MSG_TRUNC, addr, alen);
    if (n >= 0) return n;
    const errno = this.c.errno();
    if (errno === E.EAGAIN) return -errno;
    throw errnoError('recv', errno, label);
  }

  /** Wait until readable (or the peer hung up), bounded by `deadline` (nowMs clock). */
  waitReadable(deadline: number, signal?: AbortSignal): Promise<WaitResult> {
    return this.wait(POLLIN, deadline, signal);
  }

  private async wait(events: number, deadline: number, signal?: AbortSignal): Promise<WaitResult> {
    for (;;) {
      if (!this.open) return 'closed';
      if (signal?.aborted) return 'aborted';
      const left = deadline - nowMs();
      if (left <= 0) return 'timeout';
      // Own buffer per wait: koffi reads it back after the call, on this thread.
      const pfd = this.pfd;
      pfd.writeInt32LE(this.fd, 0);
      pfd.writeInt16LE(events, 4);
      pfd.writeInt16LE(0, 6);
      const n = await this.c.pollAsync(pfd, 1, Math.max(1, Math.min(SLICE_MS, Math.ceil(left))));
      if (!this.open) return 'closed';
      if (n <= 0) continue;
      const rev = pfd.readInt16LE(6);
      if (rev & events) return 'ready';
      if (rev & (POLLHUP | POLLERR)) return 'hup';
    }
  }

  /** shutdown(2) of our write side (seqpacket: the peer reads end-of-file); throws an errno error (ENOTCONN: the peer is gone). */
  shutdownWrite(label: string): void {
    this.check('shutdown', epollLibc().shutdown(this.fd, SHUT_WR), label);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.c.close(this.fd);
    try {
      this.onClose?.();
    } catch {
      // a temporary folder already gone
    }
  }
}

export const SOCKADDR_UN_MAX = SOCKADDR_UN_SIZE;

const SO_PASSCRED = 16;
const SCM_CREDENTIALS = 2;
/** struct msghdr (64-bit Linux): name 0, namelen 8, iov 16, iovlen 24, control 32, controllen 40, flags 48. */
const MSGHDR_SIZE = 56;
/** CMSG_SPACE(sizeof(struct ucred)): a 16-byte cmsghdr, then pid, uid, gid, padded to 8. */
const CRED_CONTROL_SIZE = 32;

/**
 * Datagrams with their sender's credentials (Linux): SO_PASSCRED on the
 * receiving socket makes the kernel attach an SCM_CREDENTIALS control message
 * (the sender's pid, uid, gid, as our namespace sees them) to every datagram,
 * from any sender, bound or not; recvmsg(2) reads it. One msghdr built once
 * over fixed buffers (their raw addresses in it: these buffers are not on the
 * V8 heap, so they never move), so a datagram costs no allocation. The layout
 * is 64-bit Linux's: elsewhere `open()` gives null and the caller uses recvfrom.
 */
export class CredentialReceiver {
  /** The last datagram's sender, when the kernel attached its credentials (pid 0: none). */
  readonly cred: PeerCred = { pid: 0, uid: 0, gid: 0 };
  /**
   * Whether the last receive carried credentials. The kernel attaches them to
   * every message, a 0-length one too, and never to a seqpacket peer's end:
   * so this tells a 0-length message from the end (recv gives 0 for both).
   */
  hadCred = false;
  /** The last datagram's sender address length (0 or 2: unbound). */
  fromLen = 0;
  private readonly msg = Buffer.alloc(MSGHDR_SIZE);
  private readonly iov = Buffer.alloc(16);
  private readonly control = Buffer.alloc(CRED_CONTROL_SIZE);
  private readonly c: EpollLibc;

  private constructor(
    private readonly sock: MessageSocket,
    /** Where each datagram lands (Buffer.alloc'd by the caller, at least 64 bytes). */
    readonly buf: Buffer,
    /** The sender's address (SOCKADDR_UN_MAX bytes). */
    readonly from: Buffer,
  ) {
    this.c = epollLibc();
    const address = (b: Buffer) => BigInt(this.c.address(b));
    this.iov.writeBigUInt64LE(address(buf), 0);
    this.iov.writeBigUInt64LE(BigInt(buf.length), 8);
    this.msg.writeBigUInt64LE(address(from), 0);
    this.msg.writeBigUInt64LE(address(this.iov), 16);
    this.msg.writeBigUInt64LE(1n, 24);
    this.msg.writeBigUInt64LE(address(this.control), 32);
  }

  /** SO_PASSCRED on `sock` and a receiver over `buf` and `from`; null where not available (not 64-bit Linux, no koffi). */
  static open(sock: MessageSocket, buf: Buffer, from: Buffer): CredentialReceiver | null {
    if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) return null;
    try {
      const one = Buffer.alloc(4);
      one.writeInt32LE(1, 0);
      if (epollLibc().setsockopt(sock.fd, SOL_SOCKET, SO_PASSCRED, one, 4) !== 0) return null;
      return new CredentialReceiver(sock, buf, from);
    } catch {
      return null;
    }
  }

  /**
   * One datagram without waiting: its whole length (more than buf.length when
   * cut), -EAGAIN when none is queued; the sender's address length in
   * `fromLen` (0: unbound) and its credentials in `cred`. Throws for other errors.
   */
  tryRecv(label: string): number {
    const { msg, control, cred } = this;
    msg.writeUInt32LE(SOCKADDR_UN_SIZE, 8);
    msg.writeBigUInt64LE(BigInt(CRED_CONTROL_SIZE), 40);
    msg.writeInt32LE(0, 48);
    control.fill(0);
    const n = this.c.recvmsg(this.sock.fd, msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) {
      const errno = this.c.errno();
      if (errno === E.EAGAIN) return -errno;
      throw errnoError('recvmsg', errno, label);
    }
    cred.pid = 0;
    this.hadCred = false;
    const controlLen = Number(msg.readBigUInt64LE(40));
    if (controlLen >= 28 && control.readInt32LE(8) === SOL_SOCKET && control.readInt32LE(12) === SCM_CREDENTIALS) {
      cred.pid = control.readInt32LE(16);
      cred.uid = control.readUInt32LE(20);
      cred.gid = control.readUInt32LE(24);
      this.hadCred = true;
    }
    this.fromLen = msg.readUInt32LE(8);
    return n;
  }
}
