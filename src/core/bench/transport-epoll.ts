/**
 * The epoll transport: non-blocking sockets and one epoll set through libc
 * (socket/libc.ts), in the worker thread, waiting in epoll_wait. Per-slot socket
 * state lives in typed arrays; sending, reading and dispatching allocate
 * nothing. It only moves bytes: every decision is the load loop's (loop.ts).
 */
import { performance } from 'node:perf_hooks';
import { UdsError, codeOfErrno } from '../errors.js';
import {
  AF_INET,
  AF_INET6,
  AF_UNIX,
  E,
  EPOLLERR,
  EPOLLET,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLLRDHUP,
  EPOLL_CTL_ADD,
  EPOLL_CTL_MOD,
  IPPROTO_TCP,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  SHUT_WR,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOL_SOCKET,
  SO_ERROR,
  TCP_NODELAY,
  errnoName,
} from '../socket/ffi.js';
import { EpollSet } from '../socket/epoll-set.js';
import { type EpollLibc, epollLibc } from '../socket/libc.js';
import { sockaddrAbstract, sockaddrInet, sockaddrPath } from '../socket/sockaddr.js';
import type { Transport, TransportEvents } from './transport.js';
import type { WorkerConfig, WorkerTarget } from './worker-stats.js';

const MAX_EVENTS = 512;
const RBUF = 64 * 1024;
/**
 * Edge-triggered: the kernel does not re-poll every ready socket on each
 * epoll_wait. The rule that comes with it: a readable socket is read until a
 * short read (a Unix or TCP stream read returns all that is queued, up to the
 * buffer) or EAGAIN, and a write until EAGAIN, before waiting again.
 */
const IN = EPOLLIN | EPOLLRDHUP | EPOLLET;

interface Addr {
  family: number;
  addr: Uint8Array;
  len: number;
}

function sockaddr(t: WorkerTarget): Addr {
  if (t.kind === 'unix' || t.kind === 'abstract') {
    const addr = t.kind === 'unix' ? sockaddrPath(t.path) : sockaddrAbstract(Buffer.from(t.name));
    return { family: AF_UNIX, addr, len: addr.length };
  }
  const v6 = t.family === 6;
  const addr = sockaddrInet(v6, t.address ?? t.host, t.port);
  if (addr === null) throw new UdsError('BAD_TARGET', `${t.display}: cannot use address ${t.address ?? t.host}`);
  return { family: v6 ? AF_INET6 : AF_INET, addr, len: addr.length };
}

/** The code of an I/O error on an open stream: a reset, or anything else. */
function ioCode(errno: number): 'RESET' | 'IO_ERROR' {
  return codeOfErrno(errnoName(errno)) === 'RESET' ? 'RESET' : 'IO_ERROR';
}

export class EpollTransport implements Transport {
  private readonly sys: EpollLibc;
  private readonly addr: Uint8Array;
  private readonly addrLen: number;
  private readonly family: number;
  private readonly tcp: boolean;
  private readonly eps: EpollSet;
  private readonly rbuf = Buffer.alloc(RBUF);
  private readonly rbufAt: number;
  private readonly optVal = new Uint8Array(4);
  private readonly optView = new DataView(this.optVal.buffer);
  private readonly optLen = new Uint8Array(4);
  private readonly optLenView = new DataView(this.optLen.buffer);
  private readonly one = new Uint8Array(new Int32Array([1]).buffer);
  // The payload repeated `pipeline` times (within 64 KiB): a batch of requests is one send.
  private readonly payloads: Buffer;
  private readonly payloadsAt: number;
  private readonly payloadsLen: number;
  /** seqpacket: each send is one request (one message), so a pipelined batch is that many messages. */
  private readonly sendMax: number;
  /** SOCK_STREAM, or SOCK_SEQPACKET (bench --type seqpacket): each read then one message. */
  private readonly sockType: number;
  private readonly seqpacket: boolean;
  // Per slot.
  private readonly fd: Int32Array;
  private readonly gen: Uint32Array;
  private readonly connecting: Uint8Array;
  private readonly wPend: Float64Array;
  private readonly wPos: Int32Array;
  private readonly outArmed: Uint8Array;
  private readonly shutAfter: Uint8Array;

  constructor(
    cfg: WorkerConfig,
    private readonly on: TransportEvents,
  ) {
    const sys = (this.sys = epollLibc());
    ({ addr: this.addr, len: this.addrLen, family: this.family } = sockaddr(cfg.target));
    this.tcp = this.family !== AF_UNIX;
    this.sockType = cfg.socketType === 'seqpacket' ? SOCK_SEQPACKET : SOCK_STREAM;
    this.seqpacket = this.sockType === SOCK_SEQPACKET;
    const S = cfg.slots;
    const plen = cfg.payload.length;
    const copies = Math.max(1, Math.min(cfg.pipeline, Math.floor(RBUF / Math.max(1, plen))));
    this.payloads = Buffer.alloc(Math.max(128, plen * copies)); // 128+: off the V8 heap, so its address holds
    for (let j = 0; j < copies; j++) this.payloads.set(cfg.payload, j * plen);
    this.payloadsLen = Math.max(1, plen * copies);
    this.sendMax = cfg.socketType === 'seqpacket' ? Math.max(1, plen) : this.payloadsLen;
    this.payloadsAt = sys.address(this.payloads);
    this.rbufAt = sys.address(this.rbuf);
    this.fd = new Int32Array(S).fill(-1);
    this.gen = new Uint32Array(S);
    this.connecting = new Uint8Array(S);
    this.wPend = new Float64Array(S);
    this.wPos = new Int32Array(S);
    this.outArmed = new Uint8Array(S);
    this.shutAfter = new Uint8Array(S);
    this.eps = new EpollSet(sys, MAX_EVENTS);
  }

  private setEvents(i: number, events: number, op: number): number {
    return this.eps.ctl(op, this.fd[i], events, i, this.gen[i]);
  }

  connect(i: number): void {
    const sys = this.sys;
    const s = sys.socket(this.family, this.sockType | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
      const e = sys.errno();
      this.on.now = performance.now();
      return this.on.connectFailed(i, e === E.EMFILE || e === E.ENFILE ? 'TOO_MANY_FILES' : 'IO_ERROR', e, null);
    }
    this.fd[i] = s;
    this.gen[i]++;
    this.connecting[i] = 1;
    if (this.tcp) sys.setsockopt(s, IPPROTO_TCP, TCP_NODELAY, this.one, 4);
    this.setEvents(i, this.tcp ? IN | EPOLLOUT : IN, EPOLL_CTL_ADD);
    const r = sys.connect(s, this.addr, this.addrLen);
    const e = r === 0 ? 0 : sys.errno();
    this.on.now = performance.now(); // a Unix connect completes (or fails) within the call: time it
    if (r === 0) return this.opened(i);
    if (e === E.EINPROGRESS) return; // TCP: EPOLLOUT tells
    this.on.connectFailed(i, codeOfErrno(errnoName(e)), e, null);
  }

  private opened(i: number): void {
    this.connecting[i] = 0;
    if (this.tcp) this.setEvents(i, IN, EPOLL_CTL_MOD);
    this.on.connected(i);
  }

  send(i: number, bytes: number): void {
    this.wPend[i] += bytes;
    this.flush(i);
  }

  endWrite(i: number): void {
    if (this.fd[i] < 0) return;
    if (this.wPend[i] > 0) this.shutAfter[i] = 1;
    else this.sys.shutdown(this.fd[i], SHUT_WR);
  }

  private flush(i: number): void {
    const f = this.fd[i];
    const sys = this.sys;
    while (this.wPend[i] > 0) {
      const p = this.wPos[i];
      const len = Math.min(this.wPend[i], this.payloadsLen - p, this.sendMax);
      const n = sys.sendAt(f, this.payloadsAt + p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        this.wPend[i] -= n;
        this.wPos[i] = (p + n) % this.payloadsLen;
        this.on.sent(i, n);
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) {
        if (!this.outArmed[i]) {
          this.outArmed[i] = 1;
          this.setEvents(i, IN | EPOLLOUT, EPOLL_CTL_MOD);
        }
        return;
      }
      return this.on.failed(i, ioCode(e), e);
    }
    if (this.outArmed[i]) {
      this.outArmed[i] = 0;
      this.setEvents(i, IN, EPOLL_CTL_MOD);
    }
    if (this.shutAfter[i]) {
      this.shutAfter[i] = 0;
      sys.shutdown(f, SHUT_WR);
    }
  }

  close(i: number): void {
    if (this.fd[i] >= 0) this.sys.close(this.fd[i]); // close() also takes it out of the epoll set
    this.fd[i] = -1;
    this.connecting[i] = 0;
    this.outArmed[i] = 0;
    this.shutAfter[i] = 0;
    this.wPend[i] = 0;
    this.wPos[i] = 0;
  }

  private onReadable(i: number, events: number): void {
    const sys = this.sys;
    const f = this.fd[i];
    const g = this.gen[i];
    // The peer had shut down its side (and reported no error) when epoll looked: a short read then
    // takes the rest of the stream, and its end needs no read of its own.
    const peerDone = (events & (EPOLLRDHUP | EPOLLHUP)) !== 0 && (events & EPOLLERR) === 0;
    for (;;) {
      const n = sys.readAt(f, this.rbufAt, RBUF);
      if (n > 0) {
        this.on.data(i, this.rbuf, 0, n);
        // Closed (and maybe replaced by a new connection that got the same fd number).
        if (this.gen[i] !== g || this.fd[i] < 0) return;
        // A seqpacket read is one message, short or not: read on until EAGAIN (edge-triggered).
        if (n === RBUF || this.seqpacket) continue;
        // A short read took all that was queued (edge-triggered: new data raises a new event).
        if (peerDone) this.on.end(i);
        return;
      }
      if (n === 0) return this.on.end(i);
      const e = sys.errno();
      if (e === E.EAGAIN) return;
      if (e === E.EINTR) continue;
      return this.on.failed(i, ioCode(e), e);
    }
  }

  private onEvent(i: number, events: number): void {
    if (this.connecting[i]) {
      this.optLenView.setUint32(0, 4, true);
      if (this.sys.getsockopt(this.fd[i], SOL_SOCKET, SO_ERROR, this.optVal, this.optLen) !== 0) {
        const e = this.sys.errno();
        return this.on.connectFailed(i, 'IO_ERROR', e, null);
      }
      const err = this.optView.getInt32(0, true);
      if (err === 0) {
        if (events & EPOLLOUT) this.opened(i);
        return;
      }
      return this.on.connectFailed(i, codeOfErrno(errnoName(err)), err, null);
    }
    if (events & EPOLLOUT && this.wPend[i] > 0) {
      const g = this.gen[i];
      this.flush(i);
      if (this.gen[i] !== g || this.fd[i] < 0) return;
    }
    if (events & ~EPOLLOUT) this.onReadable(i, events);
  }

  poll(timeoutMs: number): undefined {
    const eps = this.eps;
    const n = eps.wait(MAX_EVENTS, timeoutMs);
    this.on.now = performance.now();
    for (let k = 0; k < n; k++) {
      const i = eps.slot(k);
      // An event fetched for a connection this batch already closed and replaced.
      if (eps.gen(k) !== this.gen[i] || this.fd[i] < 0) continue;
      this.onEvent(i, eps.events(k));
    }
    return undefined;
  }

  dispose(): void {
    for (let i = 0; i < this.fd.length; i++) this.close(i);
    this.eps.close();
    // These are passed by address only: this use keeps them (and their memory) alive until now.
    this.rbuf.fill(0, 0, 1);
    this.payloads.fill(0, 0, 1);
  }
}
