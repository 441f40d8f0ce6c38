/**
 * The tap's epoll relay (`serve --upstream`): one engine thread's loop that
 * relays each accepted connection to the upstream with raw syscalls, as
 * thread.ts serves. Chosen only where it can honour the options (start.ts's
 * chooseEngine): every fault and --delay too. Its log is the net tap's
 * records, made and rendered in this thread (relay-log.ts, only when
 * ThreadConfig.logTo names renderers: -q makes none).
 *
 * This file is the loop: accepting, the upstream's connect (relay-connect.ts;
 * an upstream that cannot be reached closes the client: a Unix upstream's
 * connect is synchronous on a non-blocking socket, EAGAIN being a full
 * backlog retried until --connect-timeout; TCP's completes on EPOLLOUT,
 * SO_ERROR), the events, the timers (idle, connect deadlines, --delay) and
 * shutdown. What a readable or writable side does, faults included, is
 * relay-pump.ts; the slots' storage relay-table.ts.
 */
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT } from '../../socket/ffi.js';
import { epollLibc } from '../../socket/libc.js';
import { EpollSet } from '../../socket/epoll-set.js';
import { type AcceptSink, Acceptor, LISTENER } from './acceptor.js';
import { type RelayRenderers, RelayLog } from './relay-log.js';
import { CONNECTED, IN_PROGRESS, RETRY, RETRY_FIRST_MS, SELF, UpstreamConnector } from './relay-connect.js';
import type { Post } from './conn-log.js';
import { RelayPump } from './relay-pump.js';
import { CONNECTING, DELAYED, EOF, FREE, HELD, PEEKED, RELAYING, RETRYING } from './relay-table.js';
import { ABORT, C_HANDLED, C_STATE, C_STOP_ACKS, type RelayUpstream, RUN, STOP, type ThreadConfig } from './shared.js';

const MAX_EVENTS = 256;
const MAX_WAIT_MS = 50;
const CLOSING_WAIT_MS = 5;

/** Run one relay thread until shutdown; `render`: the log's renderers (cfg.logTo's), loaded; none with -q. */
export function runRelayThread(cfg: ThreadConfig, up: RelayUpstream, post: Post, render?: RelayRenderers): void {
  new RelayThread(cfg, up, post, render).run();
}

class RelayThread extends RelayPump implements AcceptSink {
  private readonly ctl: Int32Array;
  private readonly acc: Acceptor;
  private readonly connector: UpstreamConnector;
  private readonly idleMs: number;
  private readonly count: number;
  private readonly scanEvery: number;
  private nextScan: number;
  private open = 0;
  /** Slots connecting or waiting to retry: the scan looks at them each turn while there are any. */
  private pendingConnects = 0;

  constructor(
    cfg: ThreadConfig,
    up: RelayUpstream,
    private readonly post: Post,
    render?: RelayRenderers,
  ) {
    const sys = epollLibc();
    const now = performance.now();
    const log = cfg.logTo && render ? new RelayLog(cfg, new Int32Array(cfg.control), post, render, up, now) : null;
    super(sys, new EpollSet(sys, MAX_EVENTS), up, log, now);
    this.ctl = new Int32Array(cfg.control);
    this.connector = new UpstreamConnector(sys, up);
    this.acc = new Acceptor(sys, this.eps, cfg.listenFd, cfg.socketType, this.ctl, cfg.index, cfg.threads, cfg.fdLimit, cfg.maxConns, post);
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
    if (r === SELF) {
      this.log?.selfUpstream(i);
      return this.finish(i);
    }
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

  /** Close both sides and free the slot (its count, its place in --max-conns and the descriptor accounting). */
  protected override finish(i: number): void {
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
