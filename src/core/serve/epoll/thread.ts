/**
 * The epoll serving engine: one worker thread's loop. Each thread has its own
 * epoll set watching the shared listening socket (Acceptor), accepts
 * non-blocking until EAGAIN, and serves its connections with read/send
 * through libc. Per-connection state lives in typed arrays indexed by slot
 * (ConnTable); the request buffer and the reply buffer are reused, so a
 * one-shot exchange allocates nothing.
 *
 * The behaviour is the net engine's, for the options this engine takes: the
 * protocol step (ConnStep) applies serve's rules from ../protocol.ts; this
 * class moves the bytes (read, send, shutdown, close), keeps the epoll
 * interest in step, checks idle connections and follows the shutdown states
 * in the control words. A one-shot reply is followed by shutdown(SHUT_WR), not
 * close(): the connection ends when the client closes, as a node:net socket
 * with allowHalfOpen does, so a client still writing is never reset.
 *
 * epoll_wait is bounded (MAX_WAIT_MS): the shutdown states are seen within
 * that, and log records go out at least that often.
 *
 * About 410 lines: the loop and the byte moves over ConnTable; accepting, the
 * protocol step, the log and lingering are their own classes.
 */
import { endAtClose, errnoEnd } from '../protocol.js';
import { E, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_MOD, MSG_DONTWAIT, MSG_NOSIGNAL, SHUT_WR, SOL_SOCKET } from '../../socket/ffi.js';
/** getsockopt(SOL_SOCKET, SO_PEERCRED): the client's pid, uid, gid (Linux). */
const SO_PEERCRED = 17;
import { type EpollLibc, epollLibc } from '../../socket/libc.js';
import { type AcceptSink, Acceptor, LISTENER } from './acceptor.js';
import { ConnLog, type Post } from './conn-log.js';
import { type ConnIO, ConnStep, ThreadClock } from './conn-step.js';
import {
  CLOSE_AFTER_FLUSH,
  ConnTable,
  FREE,
  IN_PAUSED,
  LINGERING,
  READING,
  REGISTERED,
  REPLIED,
  SHUT_AFTER_FLUSH,
} from './conn-table.js';
import { EpollSet } from '../../socket/epoll-set.js';
import { Lingering } from './lingering.js';
import {
  ABORT,
  C_HANDLED,
  C_STATE,
  C_STOP_ACKS,
  CLOSING,
  END_CODE,
  REASON_ERRNO,
  REASON_IDLE,
  REASON_MAX_CONNS,
  REASON_NONE,
  REASON_UNREAD,
  RUN,
  STOP,
  type ThreadConfig,
} from './shared.js';
import type { LogRenderers } from './thread-log.js';

const MAX_EVENTS = 256;
/** Bound on every epoll_wait: how soon a thread sees a state change. */
const MAX_WAIT_MS = 50;
const CLOSING_WAIT_MS = 5;
/** Reading stops while this much output waits for a client that does not read. */
const OUT_HIGH_WATER = 1024 * 1024;
/** Node reads in 64 KiB chunks; so do we (the one-shot request is the first 512 bytes of the first chunk). */
const RBUF = 64 * 1024;
const NL = 0x0a;

/**
 * Run one serving thread until shutdown. Never throws for a client's doing;
 * returns when done. `render`: the renderer cfg.logTo names, loaded.
 */
export function runServeThread(cfg: ThreadConfig, post: Post, render?: LogRenderers): void {
  new ServeThread(cfg, post, render).run();
}

export class ServeThread implements ConnIO, AcceptSink {
  private readonly sys: EpollLibc;
  /** getsockopt(SO_PEERCRED)'s buffers, reused: struct ucred (pid, uid, gid) and its length. */
  private readonly cred = (() => {
    const ids = new Int32Array(3);
    const len = new Uint32Array(1);
    return { ids, val: new Uint8Array(ids.buffer), len, lenBytes: new Uint8Array(len.buffer) };
  })();
  private readonly ctl: Int32Array;
  private readonly clock: ThreadClock;
  private readonly t: ConnTable;
  private readonly log: ConnLog;
  private readonly eps: EpollSet;
  private readonly acc: Acceptor;
  private readonly step: ConnStep;
  private readonly linger: Lingering;
  /** One byte more than a read takes, for a newline sentinel (see ConnStep). */
  private readonly rbuf = Buffer.allocUnsafe(RBUF + 1);
  private readonly keepAlive: boolean;
  private readonly count: number;
  private readonly idleMs: number;
  private readonly scanEvery: number;
  private nextScan: number;
  private closing = false;
  /** The listener is out of our epoll set for good. */
  private stopped = false;
  private open = 0;

  constructor(
    cfg: ThreadConfig,
    private readonly post: Post,
    render?: LogRenderers,
  ) {
    this.sys = epollLibc();
    this.ctl = new Int32Array(cfg.control);
    this.clock = new ThreadClock(cfg.reply === null ? null : Buffer.from(cfg.reply));
    this.log = new ConnLog(cfg, this.ctl, post, render, this.clock.now);
    this.t = new ConnTable(this.log.on);
    this.eps = new EpollSet(this.sys, MAX_EVENTS);
    this.acc = new Acceptor(this.sys, this.eps, cfg.listenFd, cfg.socketType, this.ctl, cfg.index, cfg.threads, cfg.fdLimit, cfg.maxConns, post);
    this.step = new ConnStep(cfg, this.t, this.log, this.clock, this.rbuf, this);
    this.linger = new Lingering();
    this.keepAlive = cfg.keepAlive;
    this.count = cfg.count;
    this.idleMs = cfg.idleMs;
    this.scanEvery = cfg.idleMs > 0 ? Math.max(5, Math.min(250, cfg.idleMs / 8)) : Infinity;
    this.nextScan = this.clock.now + this.scanEvery;
  }

  // ---- epoll interest

  /** Make the slot's epoll interest match what it waits for. */
  arm(i: number): void {
    const t = this.t;
    const want = (t.flags[i] & IN_PAUSED ? 0 : EPOLLIN) | (t.pendOut[i] !== null ? EPOLLOUT : 0);
    if (t.flags[i] & REGISTERED) {
      if (t.armed[i] === want) return;
      this.eps.ctl(EPOLL_CTL_MOD, t.fdOf[i], want, i, t.gen[i]);
    } else {
      this.eps.ctl(EPOLL_CTL_ADD, t.fdOf[i], want, i, t.gen[i]);
      t.flags[i] |= REGISTERED;
    }
    t.armed[i] = want;
  }

  // ---- accepting and ending

  onAccept(fd: number): void {
    const t = this.t;
    const now = this.clock.now;
    const i = t.take(fd, now);
    if (this.log.on) {
      t.idOf[i] = this.log.nextId();
      t.wallAt[i] = this.clock.wall;
      // Who connected (SO_PEERCRED): one getsockopt, only when the log is on.
      const cred = this.cred;
      cred.len[0] = 12;
      if (this.sys.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred.val, cred.lenBytes) === 0) {
        t.peerPid[i] = cred.ids[0];
        t.peerUid[i] = cred.ids[1] >>> 0;
        t.peerGid[i] = cred.ids[2] >>> 0;
      } else t.peerPid[i] = 0;
    }
    this.acc.opened(++this.open, fd);
    // The request is usually queued by the time we accept: read before waiting.
    const g = t.gen[i];
    this.onReadable(i);
    if (t.gen[i] === g && !(t.flags[i] & LINGERING)) this.arm(i);
  }

  onRefused(): void {
    if (this.log.on) this.log.refused(this.clock.now, this.clock.wall, END_CODE['over-max-conns'], REASON_MAX_CONNS);
  }

  /** Close the connection (dropping what it had not sent) and log it. */
  closeConn(i: number): void {
    const t = this.t;
    this.sys.close(t.fdOf[i]); // also takes it out of the epoll set
    const replied = (t.flags[i] & REPLIED) !== 0;
    t.setEnd(i, END_CODE[endAtClose(this.closing, replied)], REASON_NONE);
    if (this.log.on) this.log.connection(this.clock.now, t, i);
    t.release(i);
    this.acc.closed(--this.open);
    if (this.count > 0 && Atomics.add(this.ctl, C_HANDLED, 1) + 1 === this.count) this.post({ type: 'count' });
  }

  private fail(i: number, errno: number): void {
    this.t.setEnd(i, END_CODE[errnoEnd(errno)], REASON_ERRNO, errno);
    this.closeConn(i);
  }

  // ---- writing

  sendOut(i: number, src: Uint8Array, len: number): boolean {
    if (len === 0) return true;
    const t = this.t;
    const queued = t.pendOut[i];
    if (queued !== null) {
      const all = Buffer.concat([queued, src.subarray(0, len)]);
      t.pendOut[i] = all;
      if (all.length > OUT_HIGH_WATER) t.flags[i] |= IN_PAUSED;
      this.arm(i);
      return true;
    }
    const sys = this.sys;
    let off = 0;
    for (;;) {
      const n = sys.send(t.fdOf[i], off === 0 ? src : src.subarray(off), len - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += n;
        t.lastActive[i] = this.clock.now;
        if (off === len) return true;
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) {
        t.pendOut[i] = Buffer.from(src.subarray(off, len));
        if (len - off > OUT_HIGH_WATER) t.flags[i] |= IN_PAUSED;
        this.arm(i);
        return true;
      }
      this.fail(i, e);
      return false;
    }
  }

  afterOneshotReply(i: number): void {
    const t = this.t;
    if (t.pendOut[i] !== null) {
      t.flags[i] |= SHUT_AFTER_FLUSH;
      return;
    }
    if (t.flags[i] & CLOSE_AFTER_FLUSH) return this.closeConn(i);
    this.sys.shutdown(t.fdOf[i], SHUT_WR);
    if (!(t.flags[i] & REGISTERED)) {
      t.flags[i] |= LINGERING;
      this.linger.add(i, t.gen[i], this.clock.now);
    }
  }

  /** Read the end of lingering connections whose time has come; the others wait through epoll. */
  private checkLingering(): void {
    const t = this.t;
    const linger = this.linger;
    const now = this.clock.now;
    for (let i = linger.next(t.gen, t.phase, now); i >= 0; i = linger.next(t.gen, t.phase, now)) {
      const g = t.gen[i];
      t.flags[i] &= ~LINGERING;
      this.onReadable(i);
      if (t.gen[i] === g) this.arm(i);
    }
  }

  private onWritable(i: number): void {
    const t = this.t;
    const sys = this.sys;
    const out = t.pendOut[i]!;
    let off = 0;
    while (off < out.length) {
      const n = sys.send(t.fdOf[i], off === 0 ? out : out.subarray(off), out.length - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += n;
        t.lastActive[i] = this.clock.now;
        continue;
      }
      const e = n < 0 ? sys.errno() : E.EAGAIN;
      if (e === E.EINTR) continue;
      if (e === E.EAGAIN) break;
      return this.fail(i, e);
    }
    if (off < out.length) {
      if (off > 0) t.pendOut[i] = out.subarray(off);
      return;
    }
    t.pendOut[i] = null;
    const f = t.flags[i];
    if (f & CLOSE_AFTER_FLUSH) return this.closeConn(i);
    if (f & SHUT_AFTER_FLUSH) {
      t.flags[i] &= ~SHUT_AFTER_FLUSH;
      sys.shutdown(t.fdOf[i], SHUT_WR);
    }
    t.flags[i] &= ~IN_PAUSED;
    this.arm(i);
  }

  // ---- reading

  private onReadable(i: number): void {
    const t = this.t;
    const sys = this.sys;
    const rbuf = this.rbuf;
    const fd = t.fdOf[i];
    const g = t.gen[i];
    for (;;) {
      const n = sys.read(fd, rbuf, RBUF);
      if (n > 0) {
        t.bytesIn[i] += n;
        t.lastActive[i] = this.clock.now;
        rbuf[n] = NL;
        if (t.phase[i] === READING) {
          this.step.onData(i, n);
          if (t.gen[i] !== g || t.flags[i] & IN_PAUSED) return;
        }
        if (n < RBUF) return; // all that was queued; level-triggered, so more raises a new event
        continue;
      }
      if (n === 0) return this.step.onEof(i);
      const e = sys.errno();
      if (e === E.EAGAIN) return;
      if (e === E.EINTR) continue;
      return this.fail(i, e);
    }
  }

  // ---- timeouts and shutdown

  private scanIdle(): void {
    const t = this.t;
    const now = this.clock.now;
    for (let i = 0; i < t.highWater; i++) {
      if (t.phase[i] !== FREE && now - t.lastActive[i] >= this.idleMs) {
        t.setEnd(i, END_CODE['idle-timeout'], t.pendOut[i] !== null ? REASON_UNREAD : REASON_IDLE);
        this.closeConn(i);
      }
    }
    this.nextScan = now + this.scanEvery;
  }

  private onState(state: number): void {
    const t = this.t;
    if (state >= CLOSING) this.closing = true;
    if (state >= STOP && !this.stopped) {
      this.stopped = true;
      this.acc.stop();
      Atomics.add(this.ctl, C_STOP_ACKS, 1);
      // As the net engine does at close(): keep-alive connections between requests go now.
      if (this.keepAlive) {
        for (let i = 0; i < t.highWater; i++) {
          if (t.phase[i] === READING && t.flags[i] & REPLIED && t.pendIn[i] === null) this.closeConn(i);
        }
      }
    }
    if (state === ABORT) {
      for (let i = 0; i < t.highWater; i++) if (t.phase[i] !== FREE) this.closeConn(i);
    }
  }

  private poll(waitMs: number): void {
    const t = this.t;
    const eps = this.eps;
    const n = eps.wait(MAX_EVENTS, waitMs);
    this.clock.tick();
    for (let k = 0; k < n; k++) {
      const i = eps.slot(k);
      if (i === LISTENER) {
        if (this.acc.listening) this.acc.acceptSome(this.clock.now, this);
        continue;
      }
      // An event for a connection this batch already closed (its slot maybe reused).
      if (t.phase[i] === FREE || eps.gen(k) !== t.gen[i]) continue;
      const events = eps.events(k);
      // EPOLLERR/EPOLLHUP with output queued: the send reports what happened (EPIPE).
      if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP) && t.pendOut[i] !== null) {
        this.onWritable(i);
        if (t.phase[i] === FREE) continue;
      }
      if (events & ~EPOLLOUT && !(t.flags[i] & IN_PAUSED)) this.onReadable(i);
    }
  }

  /** When the loop must turn next, at the latest. */
  private until(state: number): number {
    const now = this.clock.now;
    // Once closing, the next state (stop accepting, then abort) is looked for sooner.
    let until = now + (state === RUN ? MAX_WAIT_MS : CLOSING_WAIT_MS);
    if (this.open > 0 && this.nextScan < until) until = this.nextScan;
    const logAt = this.log.dueAt();
    if (logAt < until) until = logAt;
    const paused = this.acc.pausedUntil;
    if (paused > 0 && paused < until) until = paused;
    const lingerAt = this.linger.dueAt();
    if (lingerAt < until) until = lingerAt;
    return until;
  }

  // ---- the loop

  run(): void {
    const clock = this.clock;
    const acc = this.acc;
    acc.add();
    this.post({ type: 'ready' });
    let state = RUN;
    for (;;) {
      const s = Atomics.load(this.ctl, C_STATE);
      if (s !== state) {
        state = s;
        this.onState(s);
      }
      if (state >= STOP && this.open === 0) break;
      if (acc.pausedUntil > 0 && clock.now >= acc.pausedUntil && !this.stopped) acc.resume();
      this.poll(Math.max(0, Math.ceil(this.until(state) - clock.now)));
      if (this.linger.waiting()) this.checkLingering();
      if (clock.now >= this.nextScan) {
        if (this.open > 0) this.scanIdle();
        else this.nextScan = clock.now + this.scanEvery;
      }
      this.log.turn(clock.now);
    }
    this.log.finish(clock.now);
    acc.close();
    this.eps.close();
  }
}
