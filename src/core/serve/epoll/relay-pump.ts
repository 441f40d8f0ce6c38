/**
 * The tap's epoll relay, its bytes and ends (relay-thread.ts runs the loop):
 * what a readable or writable side of a slot does. A slot holds two
 * descriptors, the client's (side 0) and the upstream's (side 1); the epoll
 * data carries slot*2+side. Each direction has one bounded out-queue (OUT_CAP
 * bytes): a partial send keeps the rest, waits for EPOLLOUT on the receiving
 * side and stops reading the sending side, so backpressure goes both ways and
 * memory stays flat whatever a peer does. A side with nothing to wait for is
 * out of the epoll set (EPOLLHUP is reported even with no interest, and would
 * spin).
 *
 * As the net tap: an end on one side is relayed as shutdown(SHUT_WR) on the
 * other; both directions ended closes both; a reset closes the other side
 * with a reset (SO_LINGER 0 on TCP). Every fault and --delay act here, on the
 * upstream's reply (the actions of reply-shaper.ts): holdClient, the peek of
 * --fault reset (peekClient), a few lines in onReadable; --delay holds a reply
 * chunk in the client's out-queue until its time (the thread's scan sends it).
 */
import { E, EPOLLIN, EPOLLOUT, EPOLL_CTL_ADD, EPOLL_CTL_MOD, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_PEEK, SHUT_WR, SOL_SOCKET } from '../../socket/ffi.js';
import type { EpollLibc } from '../../socket/libc.js';
import type { EpollSet } from '../../socket/epoll-set.js';
import type { RelayLog } from './relay-log.js';
import { DELAYED, EOF, HELD, OUT_CAP, PEEKED, REG, RelayTable, SHUT, SHUT_PENDING } from './relay-table.js';
import type { RelayUpstream } from './shared.js';
import { CLOSE, DELAY, HOLD_OPEN, RESET, ReplyShaper, SWALLOW } from '../reply-shaper.js';

/** SOL_SOCKET SO_LINGER: struct linger { int l_onoff; int l_linger; }. */
const SO_LINGER = 13;

/** Relaying on a slot's two sides; the loop that owns the slots (relay-thread.ts) frees them (finish). */
export abstract class RelayPump {
  protected readonly rbuf = Buffer.allocUnsafe(OUT_CAP);
  /** --fault and --delay on the replies: the actions this loop carries out (reply-shaper.ts). */
  protected readonly shaper: ReplyShaper;
  private readonly linger0 = new Uint8Array(new Int32Array([1, 0]).buffer);
  protected stopped = false;
  /** --delay: slots whose reply waits for its time (the loop turns every RETRY_FIRST_MS while there are any). */
  protected pendingSends = 0;
  protected readonly t = new RelayTable();

  constructor(
    protected readonly sys: EpollLibc,
    protected readonly eps: EpollSet,
    protected readonly up: RelayUpstream,
    /** The records (relay-log.ts); null with -q: no record work at all. */
    protected readonly log: RelayLog | null,
    protected now: number,
  ) {
    this.shaper = new ReplyShaper({ fault: up.fault, delay: up.delayMs });
  }

  /** Close both sides and free the slot. */
  protected abstract finish(i: number): void;

  protected want(i: number, side: number, events: number): void {
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
  protected arm(i: number, s: number): void {
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
  protected onReadable(i: number, s: number, hup = false): void {
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
  protected onWritable(i: number, o: number): void {
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
}
