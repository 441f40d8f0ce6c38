/**
 * The tap's epoll relay (`serve --upstream`): one engine thread's loop that
 * relays each accepted connection to the upstream with raw syscalls, as
 * thread.ts serves. Chosen only where it can honour the options (start.ts's
 * chooseEngine): every fault and --delay too (holdClient, noNewline,
 * peekClient, a few lines in onReadable; --delay holds a reply chunk in the
 * client's out-queue until its time). Its log is the net tap's records, made and rendered in this thread
 * (relay-log.ts, only when ThreadConfig.logTo names renderers: -q makes none).
 *
 * A slot holds two descriptors, the client's (side 0) and the upstream's
 * (side 1); the epoll data carries slot*2+side. Each direction has one bounded
 * out-queue (OUT_CAP bytes): a partial send keeps the rest, waits for EPOLLOUT
 * on the receiving side and stops reading the sending side, so backpressure
 * goes both ways and memory stays flat whatever a peer does. A side with
 * nothing to wait for is out of the epoll set (EPOLLHUP is reported even with
 * no interest, and would spin).
 *
 * As the net tap: an end on one side is relayed as shutdown(SHUT_WR) on the
 * other; both directions ended closes both; a reset closes the other side
 * with a reset (SO_LINGER 0 on TCP); an upstream that cannot be reached
 * closes the client. A Unix upstream's connect is synchronous on a
 * non-blocking socket (EAGAIN: its backlog is full, retried until
 * --connect-timeout); TCP's completes on EPOLLOUT (SO_ERROR).
 *
 * About 640 lines: one loop whose reads, sends, ends, upstream connects,
 * held clients and the faults on the reply share each slot's state on both sides (its storage is
 * relay-table.ts; its records relay-log.ts's, one call per event when logging).
 */
import {
  E,
  EPOLLERR,
  EPOLLHUP,
  EPOLLIN,
  EPOLLOUT,
  EPOLL_CTL_ADD,
  EPOLL_CTL_MOD,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  MSG_PEEK,
  SHUT_WR,
  SOL_SOCKET,
} from '../../socket/ffi.js';
import { type EpollLibc, epollLibc } from '../../socket/libc.js';
import { EpollSet } from '../../socket/epoll-set.js';
import { type AcceptSink, Acceptor, LISTENER } from './acceptor.js';
import { type RelayRenderers, RelayLog } from './relay-log.js';
import { CONNECTED, IN_PROGRESS, RETRY, RETRY_FIRST_MS, UpstreamConnector } from './relay-connect.js';
import type { Post } from './conn-log.js';
import { CONNECTING, DELAYED, EOF, FREE, HELD, OUT_CAP, PEEKED, RELAYING, REG, RETRYING, RelayTable, SHUT, SHUT_PENDING } from './relay-table.js';
import { ABORT, C_HANDLED, C_STATE, C_STOP_ACKS, type RelayUpstream, RUN, STOP, type ThreadConfig } from './shared.js';
import { CLOSE, DELAY, HOLD_OPEN, RESET, ReplyShaper, SWALLOW } from '../reply-shaper.js';

/** SOL_SOCKET SO_LINGER: struct linger { int l_onoff; int l_linger; }. */
const SO_LINGER = 13;
const MAX_EVENTS = 256;
const MAX_WAIT_MS = 50;
const CLOSING_WAIT_MS = 5;

/** Run one relay thread until shutdown; `render`: the log's renderers (cfg.logTo's), loaded; none with -q. */
export function runRelayThread(cfg: ThreadConfig, up: RelayUpstream, post: Post, render?: RelayRenderers): void {
  new RelayThread(cfg, up, post, render).run();
}

class RelayThread implements AcceptSink {
  private readonly sys: EpollLibc;
  private readonly ctl: Int32Array;
  private readonly eps: EpollSet;
  private readonly acc: Acceptor;
  private readonly rbuf = Buffer.allocUnsafe(OUT_CAP);
  /** --fault and --delay on the replies: the actions this loop carries out (reply-shaper.ts). */
  private readonly shaper: ReplyShaper;
  private readonly linger0 = new Uint8Array(new Int32Array([1, 0]).buffer);
  /** getsockopt(SO_ERROR)'s int and its length, and their bytes (made once). */
  private readonly connector: UpstreamConnector;
  private readonly idleMs: number;
  private readonly count: number;
  private readonly scanEvery: number;
  private nextScan: number;
  private now = performance.now();
  private stopped = false;
  private open = 0;
  /** Slots connecting or waiting to retry: the scan looks at them each turn while there are any. */
  private pendingConnects = 0;
  /** --delay: slots whose reply waits for its time (the loop turns every RETRY_FIRST_MS while there are any). */
  private pendingSends = 0;
  private readonly t = new RelayTable();
  /** The records (relay-log.ts); null with -q: no record work at all. */
  private readonly log: RelayLog | null;

  constructor(
    cfg: ThreadConfig,
    private readonly up: RelayUpstream,
    private readonly post: Post,
    render?: RelayRenderers,
  ) {
    this.sys = epollLibc();
    this.log = cfg.logTo && render ? new RelayLog(cfg, new Int32Array(cfg.control), post, render, up, this.now) : null;
    this.ctl = new Int32Array(cfg.control);
    this.connector = new UpstreamConnector(this.sys, up);
    this.shaper = new ReplyShaper({ fault: up.fault, delay: up.delayMs });
    this.eps = new EpollSet(this.sys, MAX_EVENTS);
    this.acc = new Acceptor(this.sys, this.eps, cfg.listenFd, cfg.socketType, this.ctl, cfg.index, cfg.threads, cfg.fdLimit, cfg.maxConns, post);
    this.idleMs = cfg.idleMs;
    this.count = cfg.count;
    this.scanEvery = cfg.idleMs > 0 ? Math.max(5, Math.min(250, cfg.idleMs / 8)) : Infinity;
    this.nextScan = this.now + this.scanEvery;
  }

  // ---- accepting, connecting

  onAccept(cfd: number): void {
    const i = this.t.take(cfd, this.now, this.up.connectMs);
    this.t.retryMs[i] = RETRY_FIRST_MS;
    this.log?.accepted(i);
    // Two descriptors a connection: the out-of-descriptors accounting counts both.
    this.acc.opened(2 * ++this.open, cfd);
    this.connect(i);
  }

  onRefused(): void {
    this.log?.refused();
  }

  /** One connect attempt of slot i's upstream (relay-connect.ts). */
  private connect(i: number): void {
    const r = this.connector.start(this.t, i, this.now);
    if (r === CONNECTED) return this.connected(i);
    if (r === IN_PROGRESS) {
      this.setPhase(i, CONNECTING);
      this.want(i, 1, EPOLLOUT);
      return;
    }
    if (r === RETRY) return this.setPhase(i, RETRYING);
    // Refused, not found, backlog full past the deadline: the client is closed without a reply.
    this.connectFailed(i, r);
  }

  /** The upstream cannot be reached (errno; 0: not within --connect-timeout, `backlog` full till then): the client is closed. */
  private connectFailed(i: number, errno: number, backlog = false): void {
    this.log?.connectFailed(i, errno, backlog);
    this.finish(i);
  }

  private setPhase(i: number, p: number): void {
    const was = this.t.phase[i] === CONNECTING || this.t.phase[i] === RETRYING;
    const is = p === CONNECTING || p === RETRYING;
    this.pendingConnects += (is ? 1 : 0) - (was ? 1 : 0);
    this.t.phase[i] = p;
  }

  /** TCP: the connect completed (EPOLLOUT): SO_ERROR says how. */
  private onConnectDone(i: number): void {
    const e = this.connector.done(this.t.fd[2 * i + 1]);
    if (e !== 0) return this.connectFailed(i, e);
    this.connected(i);
  }

  private connected(i: number): void {
    this.setPhase(i, RELAYING);
    this.t.lastActive[i] = this.now;
    this.log?.connected(i);
    // The client's request is usually queued already: relayed before waiting. The upstream has
    // had no time to reply: it is only watched (a read now would be an EAGAIN per connection).
    const g = this.t.gen[i];
    this.onReadable(i, 0);
    if (this.t.gen[i] !== g) return;
    this.arm(i, 0);
    this.arm(i, 1);
  }

  // ---- epoll interest

  private want(i: number, side: number, events: number): void {
    const k = 2 * i + side;
    const f = this.t.sideFlags[k];
    const fd = this.t.fd[k];
    if (events === 0 && !(f & (HELD | PEEKED))) {
      if (f & REG) {
        this.eps.remove(fd);
        this.t.sideFlags[k] = f & ~REG;
      }
      return;
    }
    if (f & REG) {
      if (this.t.armed[k] === events) return;
      this.eps.ctl(EPOLL_CTL_MOD, fd, events, k, this.t.gen[i]);
    } else {
      this.eps.ctl(EPOLL_CTL_ADD, fd, events, k, this.t.gen[i]);
      this.t.sideFlags[k] = f | REG;
    }
    this.t.armed[k] = events;
  }

  /** Make side s's interest match: read unless ended or its output waits; write while output to it waits. */
  private arm(i: number, s: number): void {
    const k = 2 * i + s;
    const f = this.t.sideFlags[k];
    const read = !(f & (EOF | PEEKED)) && this.t.outLen[2 * i + (1 - s)] === 0;
    const write = this.t.outLen[k] > 0 && !(f & DELAYED);
    this.want(i, s, (read ? EPOLLIN : 0) | (write ? EPOLLOUT : 0));
  }

  // ---- relaying

  /**
   * Read side s and send to the other side until EAGAIN or the other side is backed up.
   * hup: the event had EPOLLHUP, which a Unix socket reports only once its peer has closed
   * (a half-close gives EPOLLRDHUP alone): nothing more can come from that side.
   */
  private onReadable(i: number, s: number, hup = false): void {
    const sys = this.sys;
    const o = 1 - s;
    const src = this.t.fd[2 * i + s];
    const dst = this.t.fd[2 * i + o];
    const rbuf = this.rbuf;
    const shaper = this.shaper;
    if (s === 0 && shaper.resetsAtReply) return this.peekClient(i, hup);
    // no-newline: a reply read leaves room for the newlines held before it.
    const max = s === 1 ? OUT_CAP - shaper.headroom : OUT_CAP;
    for (;;) {
      if (this.t.outLen[2 * i + o] > 0) return this.arm(i, s);
      const n = sys.read(src, rbuf, max);
      if (n > 0) {
        this.t.lastActive[i] = this.now;
        // Logged before the send: the record's preview is a view of rbuf.
        if (this.log !== null) this.log.data(i, s, rbuf, n, (this.t.sideFlags[2 * i + o] & SHUT) !== 0);
        if (this.t.sideFlags[2 * i + o] & SHUT) continue; // the other side can take nothing more: dropped, as net's EPIPE
        let buf: Buffer = rbuf;
        let len = n;
        if (s === 1) {
          const act = shaper.reply(i, rbuf, n, this.now, false);
          if (act === SWALLOW) continue;
          if (act === RESET) {
            // The client is closed with its request unread, which resets it, instead of the reply.
            this.log?.resetAtReply(i);
            return this.finish(i);
          }
          if (act === CLOSE) {
            this.shutSide(i, 0);
            this.arm(i, 0);
            continue;
          }
          buf = shaper.data as Buffer;
          len = shaper.len;
          if (act === DELAY) {
            if (len === 0) continue;
            // The chunk waits in the client's out-queue for its time; the upstream is not read meanwhile.
            this.queue(i, 0, buf, 0, len);
            this.t.sideFlags[2 * i] |= DELAYED;
            this.t.sendAt[i] = shaper.at;
            this.pendingSends++;
            this.arm(i, 1);
            this.arm(i, 0);
            return;
          }
        }
        const sent = len === 0 ? 0 : this.sendAll(dst, buf, 0, len);
        if (sent < 0) return this.onSendError(i, o, -sent);
        if (sent < len) {
          this.queue(i, o, buf, sent, len);
          this.arm(i, s);
          this.arm(i, o);
          return;
        }
        if (n < max) {
          // A short read took all that was queued; a closed Unix upstream sends no more, so no read for its EOF.
          if (hup && s === 1 && !this.up.tcp) return this.onUpstreamGone(i);
          return; // level-triggered: more raises a new event
        }
        continue;
      }
      if (n === 0) return hup && s === 1 && !this.up.tcp ? this.onUpstreamGone(i) : this.onEnd(i, s, hup);
      const e = sys.errno();
      if (e === E.EAGAIN) return;
      if (e === E.EINTR) continue;
      return this.onReset(i, s, e);
    }
  }

  /**
   * --fault reset: a Unix peer sees ECONNRESET only when it is closed with its bytes unread. So the
   * client's request is peeked, relayed to the upstream and left queued; the client is not read
   * again (its close still comes, as EPOLLHUP), and the upstream's reply closes it.
   */
  private peekClient(i: number, hup: boolean): void {
    const k = 2 * i;
    if (this.t.sideFlags[k] & PEEKED) {
      if (hup) {
        this.log?.ended(i, 0, true, false);
        this.finish(i);
      }
      return;
    }
    const n = this.sys.recv(this.t.fd[k], this.rbuf, OUT_CAP, MSG_PEEK | MSG_DONTWAIT);
    if (n === 0) return this.onEnd(i, 0, hup);
    if (n < 0) {
      const e = this.sys.errno();
      return e === E.EAGAIN || e === E.EINTR ? undefined : this.onReset(i, 0, e);
    }
    this.t.lastActive[i] = this.now;
    this.t.sideFlags[k] |= PEEKED;
    this.log?.data(i, 0, this.rbuf, n, false);
    const sent = this.sendAll(this.t.fd[k + 1], this.rbuf, 0, n);
    if (sent < 0) return this.onSendError(i, 1, -sent);
    if (sent < n) this.queue(i, 1, this.rbuf, sent, n);
    this.arm(i, 0);
    this.arm(i, 1);
  }

  /** send until done or EAGAIN: the bytes sent, or -errno. */
  private sendAll(fd: number, buf: Uint8Array, from: number, to: number): number {
    const sys = this.sys;
    let off = from;
    while (off < to) {
      const n = sys.send(fd, off === 0 ? buf : buf.subarray(off), to - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += n;
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) break;
      return -e;
    }
    return off - from;
  }

  /** Keep src[from, to) for side o (its out-queue is empty: one buffer of OUT_CAP holds a read). */
  private queue(i: number, o: number, src: Buffer, from: number, to: number): void {
    const k = 2 * i + o;
    let b = this.t.outBuf[k];
    if (b === null) b = this.t.outBuf[k] = Buffer.allocUnsafe(OUT_CAP);
    src.copy(b, 0, from, to);
    this.t.outOff[k] = 0;
    this.t.outLen[k] = to - from;
  }

  /** Side o can take more: send what waits, then relay the other side's end or resume reading it. */
  private onWritable(i: number, o: number): void {
    const k = 2 * i + o;
    const b = this.t.outBuf[k]!;
    const off = this.t.outOff[k];
    const len = this.t.outLen[k];
    const sent = this.sendAll(this.t.fd[k], b, off, off + len);
    if (sent < 0) return this.onSendError(i, o, -sent);
    this.t.lastActive[i] = this.now;
    this.t.outOff[k] = off + sent;
    this.t.outLen[k] = len - sent;
    if (this.t.outLen[k] > 0) return;
    const s = 1 - o;
    if (this.t.sideFlags[k] & SHUT_PENDING) {
      this.t.sideFlags[k] &= ~SHUT_PENDING;
      this.shutSide(i, o);
      if (this.bothEnded(i)) return this.finish(i);
    }
    this.arm(i, o);
    this.arm(i, s);
    if (!(this.t.sideFlags[2 * i + s] & EOF)) {
      const g = this.t.gen[i];
      this.onReadable(i, s);
      if (this.t.gen[i] !== g) return;
    }
  }

  private shutSide(i: number, o: number): void {
    const k = 2 * i + o;
    if (this.t.sideFlags[k] & SHUT) return;
    this.t.sideFlags[k] |= SHUT;
    this.sys.shutdown(this.t.fd[k], SHUT_WR);
  }

  /** Side s ended (EOF): relayed as a half-close to the other once what waits for it is out. */
  private onEnd(i: number, s: number, hup = false): void {
    const o = 1 - s;
    if (s === 1 && this.shaper.upstreamEnd() === HOLD_OPEN) return this.holdClient(i, hup);
    const held = s === 0 && (this.t.sideFlags[2 * i] & HELD) !== 0;
    if (this.log !== null) {
      const tcp = s === 1 ? this.up.tcp : this.up.listenTcp;
      this.log.ended(i, s, this.log.gone(this.t.fd[2 * i + s], tcp, hup), !held && !(this.t.sideFlags[2 * i + o] & SHUT));
    }
    // A held client's own end ends the connection (its upstream has ended already).
    if (held) return this.finish(i);
    this.t.sideFlags[2 * i + s] |= EOF;
    if (this.t.outLen[2 * i + o] > 0) this.t.sideFlags[2 * i + o] |= SHUT_PENDING;
    // The other side has ended too: both are closed now, and the close says it (a syscall saved per connection).
    else if (this.t.sideFlags[2 * i + o] & EOF) this.t.sideFlags[2 * i + o] |= SHUT;
    else this.shutSide(i, o);
    if (this.bothEnded(i)) return this.finish(i);
    this.arm(i, s);
  }

  /**
   * A Unix upstream has closed (EPOLLHUP) and all it sent is read: it will send nothing more and
   * read nothing more. When what it sent is out to the client, the client is closed at once, as
   * the upstream's own close would have closed it without the tap: it reads the reply, then its
   * end (or ECONNRESET if it had sent more, as from the server itself). This saves a shutdown, two
   * reads of ends, an epoll_ctl and a wake-up on a one-shot connection. With output still queued
   * for the client, the end is relayed as usual (a half-close once the queue drains).
   */
  private onUpstreamGone(i: number): void {
    if (this.t.outLen[2 * i] > 0 || this.shaper.holdsOpen) return this.onEnd(i, 1, true);
    this.log?.upstreamGone(i);
    this.finish(i);
  }

  /**
   * --fault never-close or silent: the upstream has ended, and the client is not told. It gets
   * what was relayed (never-close), is read to its own end (what it sends to an upstream that is
   * gone is dropped), and then closed; --idle-timeout and shutdown end it sooner.
   */
  private holdClient(i: number, hup: boolean): void {
    const t = this.t;
    const u = 2 * i + 1;
    const gone = this.log !== null ? this.log.gone(t.fd[u], this.up.tcp, hup) : hup;
    this.log?.held(i, gone);
    t.sideFlags[u] |= EOF;
    if (gone) t.sideFlags[u] |= SHUT;
    // The tap is stopping: nothing to hold it for.
    if (this.stopped) return this.finish(i);
    // HELD keeps the client in the epoll set even with nothing to wait for: a half-closed client's
    // own close then comes as EPOLLHUP.
    t.sideFlags[2 * i] |= HELD;
    this.arm(i, 1);
    this.arm(i, 0);
  }

  /** Both sides have ended and each end has been relayed. */
  private bothEnded(i: number): boolean {
    const c = this.t.sideFlags[2 * i];
    const u = this.t.sideFlags[2 * i + 1];
    return (c & EOF) !== 0 && (u & EOF) !== 0 && (c & SHUT) !== 0 && (u & SHUT) !== 0;
  }

  /** Sending to side o failed: a reset is relayed as one; a closed side (EPIPE) takes nothing more. */
  private onSendError(i: number, o: number, errno: number): void {
    if (errno === E.ECONNRESET) return this.onReset(i, o, errno);
    // EPIPE: o takes nothing more; what the other side still sends is dropped (the net tap's EPIPE),
    // and o is still read to its end, so both ends are relayed as usual.
    this.log?.sendClosed(i, o, errno);
    const k = 2 * i + o;
    this.t.sideFlags[k] |= SHUT;
    this.t.outLen[k] = 0;
    this.t.sideFlags[k] &= ~SHUT_PENDING;
    if (this.bothEnded(i)) return this.finish(i);
    this.arm(i, o);
    this.arm(i, 1 - o);
  }

  /** Side s was reset (or failed, errno): the other side is reset too, both closed. */
  private onReset(i: number, s: number, errno: number): void {
    this.log?.reset(i, s, errno);
    const o = 1 - s;
    const ofd = this.t.fd[2 * i + o];
    const tcp = o === 1 ? this.up.tcp : this.up.listenTcp;
    // TCP: SO_LINGER 0 makes close() send an RST; a Unix peer sees its end (the net tap's destroy()).
    if (tcp && ofd >= 0) this.sys.setsockopt(ofd, SOL_SOCKET, SO_LINGER, this.linger0, 8);
    this.finish(i);
  }

  /** Close both sides and free the slot. */
  private finish(i: number): void {
    const t = this.t;
    for (let k = 2 * i; k < 2 * i + 2; k++) if (t.fd[k] >= 0) this.sys.close(t.fd[k]); // also out of the epoll set
    if (t.sideFlags[2 * i] & DELAYED) this.pendingSends--;
    this.log?.finished(i);
    this.setPhase(i, FREE);
    t.release(i);
    this.shaper.release(i);
    this.acc.closed(2 * --this.open);
    if (this.count > 0 && Atomics.add(this.ctl, C_HANDLED, 1) + 1 === this.count) this.post({ type: 'count' });
  }

  // ---- timers and shutdown

  /** Idle connections, connect deadlines and backlog retries. */
  private scan(): void {
    const now = this.now;
    const idle = this.idleMs;
    for (let i = 0; i < this.t.highWater; i++) {
      const p = this.t.phase[i];
      if (p === FREE) continue;
      if (p === RETRYING) {
        if (now >= this.t.deadline[i]) this.connectFailed(i, 0, true);
        else if (now >= this.t.retryAt[i]) this.connect(i);
        continue;
      }
      if (p === CONNECTING) {
        if (now >= this.t.deadline[i]) this.connectFailed(i, 0);
        continue;
      }
      if (this.t.sideFlags[2 * i] & DELAYED && now >= this.t.sendAt[i]) {
        // --delay: the reply's time has come.
        this.t.sideFlags[2 * i] &= ~DELAYED;
        this.pendingSends--;
        if (this.t.outLen[2 * i] > 0) this.onWritable(i, 0);
        else this.arm(i, 0);
        continue;
      }
      if (idle > 0 && now - this.t.lastActive[i] >= idle) {
        this.log?.idle(i, this.t.outLen[2 * i] > 0);
        this.finish(i);
      }
    }
    this.nextScan = now + this.scanEvery;
  }

  private poll(waitMs: number): void {
    const eps = this.eps;
    const n = eps.wait(MAX_EVENTS, waitMs);
    this.now = performance.now();
    for (let q = 0; q < n; q++) {
      const k = eps.slot(q);
      if (k === LISTENER) {
        if (this.acc.listening) this.acc.acceptSome(this.now, this);
        continue;
      }
      const i = k >>> 1;
      const s = k & 1;
      if (this.t.phase[i] === FREE || eps.gen(q) !== this.t.gen[i]) continue;
      const ev = eps.events(q);
      const f = this.t.sideFlags[k];
      if ((f & (HELD | EOF)) === (HELD | EOF) || f & PEEKED) {
        // A held client that had half-closed, or a client whose request is left unread (--fault reset):
        // in the epoll set for its close (or failure) only, the end of the connection.
        if (ev & (EPOLLHUP | EPOLLERR)) {
          this.log?.ended(i, 0, true, false);
          this.finish(i);
        }
        continue;
      }
      if (this.t.phase[i] === CONNECTING) {
        if (s === 1) this.onConnectDone(i);
        continue;
      }
      if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP) && this.t.outLen[k] > 0 && !(f & DELAYED)) {
        const g = this.t.gen[i];
        this.onWritable(i, s);
        if (this.t.gen[i] !== g) continue;
      }
      if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP) && !(this.t.sideFlags[k] & EOF) && this.t.outLen[2 * i + (1 - s)] === 0) this.onReadable(i, s, (ev & EPOLLHUP) !== 0);
    }
  }

  run(): void {
    const acc = this.acc;
    acc.add();
    this.post({ type: 'ready' });
    let state = RUN;
    for (;;) {
      const st = Atomics.load(this.ctl, C_STATE);
      if (st !== state) {
        state = st;
        if (state >= STOP && !this.stopped) {
          this.stopped = true;
          acc.stop();
          Atomics.add(this.ctl, C_STOP_ACKS, 1);
          // A client a fault holds open would hold shutdown for the whole --grace.
          for (let i = 0; i < this.t.highWater; i++) if (this.t.phase[i] !== FREE && this.t.sideFlags[2 * i] & HELD) this.finish(i);
        }
        if (state === ABORT)
          for (let i = 0; i < this.t.highWater; i++) {
            if (this.t.phase[i] === FREE) continue;
            this.log?.shutdown(i);
            this.finish(i);
          }
      }
      if (state >= STOP && this.open === 0) break;
      if (acc.pausedUntil > 0 && this.now >= acc.pausedUntil && !this.stopped) acc.resume();
      let until = this.now + (state === RUN ? MAX_WAIT_MS : CLOSING_WAIT_MS);
      if (this.pendingConnects > 0 || this.pendingSends > 0) until = Math.min(until, this.now + RETRY_FIRST_MS);
      else if (this.open > 0 && this.nextScan < until) until = this.nextScan;
      if (acc.pausedUntil > 0 && acc.pausedUntil < until) until = acc.pausedUntil;
      if (this.log !== null && this.log.dueAt() < until) until = this.log.dueAt();
      this.poll(Math.max(0, Math.ceil(until - this.now)));
      if (this.pendingConnects > 0 || this.pendingSends > 0 || this.now >= this.nextScan) {
        if (this.open > 0) this.scan();
        else this.nextScan = this.now + this.scanEvery;
      }
      this.log?.turn(this.now);
    }
    this.log?.finish(performance.now());
    acc.close();
    this.eps.close();
  }
}
