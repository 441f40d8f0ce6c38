/**
 * An engine thread's accepting: the shared listening socket in this thread's
 * epoll set (EPOLLEXCLUSIVE: one thread woken per connection), accepting in
 * bursts, the --max-conns gate, and the descriptor limits: libuv's answer to
 * EMFILE (a spare descriptor, given back to accept and close the excess),
 * the out-of-descriptors warning once per episode over all threads, and a
 * pause instead of a spin when accept keeps failing.
 */
import { FD_CLEAR_MARGIN, FD_WARN_MARGIN } from '../protocol.js';
import { AF_UNIX, E, EPOLLEXCLUSIVE, EPOLLIN, EPOLL_CTL_ADD, SOCK_CLOEXEC, SOCK_NONBLOCK, errnoName } from '../../socket/ffi.js';
import type { EpollLibc } from '../../socket/libc.js';
import type { Post } from './conn-log.js';
import type { EpollSet } from '../../socket/epoll-set.js';
import { C_ACTIVE, C_FD_BASE, C_FD_WARNED, acceptedWord, openWord } from './shared.js';

/** The listener's slot in the event data. */
export const LISTENER = 0xffffffff;
/** Connections accepted per listener event before the others get a turn. */
const ACCEPT_BURST = 64;

/** What an accepted connection is handed to. */
export interface AcceptSink {
  onAccept(fd: number): void;
  /** A connection closed at once for --max-conns. */
  onRefused(): void;
}

export class Acceptor {
  /** Whether the listener is in the epoll set. */
  listening = false;
  /** Out of descriptors with no reserve, or accept failing: accept again at this time (0: not paused). */
  pausedUntil = 0;
  private accepted = 0;
  private reserveFd: number;

  /**
   * @param socketType the listening socket's type (SOCK_STREAM, SOCK_SEQPACKET): the spare descriptor is one of these
   */
  constructor(
    private readonly sys: EpollLibc,
    private readonly eps: EpollSet,
    private readonly lfd: number,
    private readonly socketType: number,
    private readonly ctl: Int32Array,
    private readonly me: number,
    private readonly threads: number,
    private readonly fdLimit: number,
    private readonly maxConns: number,
    private readonly post: Post,
  ) {
    this.reserveFd = this.spare();
  }

  private spare(): number {
    return this.sys.socket(AF_UNIX, this.socketType | SOCK_CLOEXEC, 0);
  }

  /** Put the listener in the epoll set. */
  add(): void {
    if (this.eps.ctl(EPOLL_CTL_ADD, this.lfd, EPOLLIN | EPOLLEXCLUSIVE, LISTENER, 0) === 0) {
      this.listening = true;
      return;
    }
    const e = this.sys.errno();
    // EINVAL: a kernel without EPOLLEXCLUSIVE; every thread is then woken per connection.
    if (e === E.EINVAL && this.eps.ctl(EPOLL_CTL_ADD, this.lfd, EPOLLIN, LISTENER, 0) === 0) this.listening = true;
    else throw new Error(`epoll_ctl on the listening socket: ${errnoName(e)}`);
  }

  /** Take the listener out of the epoll set (stop accepting here). */
  drop(): void {
    if (!this.listening) return;
    this.eps.remove(this.lfd);
    this.listening = false;
  }

  /** Stop accepting for good (shutdown): no pause to resume from. */
  stop(): void {
    this.drop();
    this.pausedUntil = 0;
  }

  /** After a pause: take a spare again and accept. */
  resume(): void {
    this.pausedUntil = 0;
    if (this.reserveFd < 0) this.reserveFd = this.spare();
    this.add();
  }

  private pause(now: number, ms: number): void {
    this.drop();
    this.pausedUntil = now + ms;
  }

  /** Accept until the queue is empty (or a burst is done: the listener is level-triggered). */
  acceptSome(now: number, sink: AcceptSink): void {
    const sys = this.sys;
    for (let k = 0; k < ACCEPT_BURST; k++) {
      const fd = sys.accept4(this.lfd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        this.accepted++;
        if (this.overMaxConns(fd)) sink.onRefused();
        else sink.onAccept(fd);
        continue;
      }
      const e = sys.errno();
      if (e === E.EAGAIN) break;
      if (e === E.EINTR || e === E.ECONNABORTED) continue;
      if (e === E.EMFILE || e === E.ENFILE) {
        this.fdPressure();
        if (this.reserveFd >= 0) {
          // Give the spare back, accept and close what waits, take the spare again.
          sys.close(this.reserveFd);
          for (;;) {
            const c = sys.accept4(this.lfd, null, null, SOCK_CLOEXEC);
            if (c < 0) break;
            sys.close(c);
          }
          this.reserveFd = this.spare();
        }
        if (this.reserveFd < 0) this.pause(now, 20);
        break;
      }
      // Anything else (ENOBUFS, ENOMEM, ...): say so, and do not spin on it.
      this.post({ type: 'warning', message: `accept: ${errnoName(e)}` });
      this.pause(now, 100);
      break;
    }
    Atomics.store(this.ctl, acceptedWord(this.me), this.accepted);
  }

  /** --max-conns: whether `fd` is one too many (then closed here). */
  private overMaxConns(fd: number): boolean {
    if (this.maxConns === 0 || Atomics.add(this.ctl, C_ACTIVE, 1) < this.maxConns) return false;
    Atomics.sub(this.ctl, C_ACTIVE, 1);
    this.sys.close(fd);
    return true;
  }

  /** This thread now has `open` connections; `fd` is the newest (-1: one closed). */
  opened(open: number, fd: number): void {
    Atomics.store(this.ctl, openWord(this.me), open);
    if (fd >= this.fdLimit - FD_WARN_MARGIN) this.fdPressure();
  }

  /** A connection closed: this thread has `open`. */
  closed(open: number): void {
    const ctl = this.ctl;
    Atomics.store(ctl, openWord(this.me), open);
    if (this.maxConns > 0) Atomics.sub(ctl, C_ACTIVE, 1);
    if (Atomics.load(ctl, C_FD_WARNED) === 1) this.fdsFree();
  }

  private openTotal(): number {
    let total = Atomics.load(this.ctl, C_FD_BASE);
    for (let t = 0; t < this.threads; t++) total += Atomics.load(this.ctl, openWord(t));
    return total;
  }

  /** Out of descriptors: said once per episode, over all threads. */
  private fdPressure(): void {
    if (Atomics.compareExchange(this.ctl, C_FD_WARNED, 0, 1) !== 0) return;
    this.post({ type: 'fd-pressure', hit: true, open: this.openTotal() });
  }

  private fdsFree(): void {
    const total = this.openTotal();
    if (total < this.fdLimit - FD_CLEAR_MARGIN && Atomics.compareExchange(this.ctl, C_FD_WARNED, 1, 0) === 1) {
      this.post({ type: 'fd-pressure', hit: false, open: total });
    }
  }

  close(): void {
    this.drop();
    if (this.reserveFd >= 0) this.sys.close(this.reserveFd);
    this.reserveFd = -1;
  }
}
