/**
 * The seqpacket tap's relay (message-tap.ts): per accepted connection one
 * seqpacket connection to the upstream; each message relayed whole in each
 * direction; a side's end (recv 0) relayed as shutdown(SHUT_WR) once what it
 * sent is delivered; a reset ends both. Backpressure: a side is read only
 * while the queue towards the other is under QUEUE_BYTES, so memory stays
 * flat whatever either peer sends. Faults apply to the upstream's replies.
 */
import { nowMs } from '../clock.js';
import { UdsError } from '../errors.js';
import { connectMessage } from '../exchange-message.js';
import { E, SHUT_WR, SOCK_CLOEXEC, SOCK_NONBLOCK } from '../socket/ffi.js';
import { epollLibc } from '../socket/libc.js';
import { MessageSocket } from '../socket/message.js';
import { MessageReceiver, RECV_END, RECV_NONE } from '../socket/message-recv.js';
import { type NamedPeer, namedPeer } from '../socket/peer.js';
import { MESSAGE_TAP_DEFAULTS } from './message-tap-records.js';
import { type MessageTapHost, type MessageTapRelay, POLLERR, POLLHUP, POLLIN, POLLOUT, type PollSet } from './message-tap-poll.js';
import { NO_NEWLINE_NOTE } from './protocol.js';
import { DELAY, HOLD_OPEN, ReplyShaper, SEND, SWALLOW } from './reply-shaper.js';
import { type SideEnd, TRAFFIC_PREVIEW } from './tap-records.js';

/** Bytes queued towards one side before the other side is no longer read. */
const QUEUE_BYTES = 256 * 1024;
const BATCH = 64;

interface Queued {
  buf: Buffer;
  due: number;
}

class Pair {
  up: MessageSocket | null = null;
  upRx: MessageReceiver | null = null;
  readonly clientRx: MessageReceiver;
  readonly toUp: Queued[] = [];
  readonly toClient: Queued[] = [];
  upBytes = 0;
  clientBytes = 0;
  clientEof = false;
  upEof = false;
  upShut = false;
  clientShut = false;
  messagesUp = 0;
  messagesDown = 0;
  first?: 'client' | 'upstream' | 'tap';
  clientEnd: SideEnd = 'open';
  upstreamEnd: SideEnd = 'never-connected';
  ended = false;
  ci = -1;
  ui = -1;
  constructor(
    readonly id: number,
    readonly client: MessageSocket,
    readonly peer: NamedPeer | null,
    public lastAt: number,
    buf: Buffer,
  ) {
    this.clientRx = new MessageReceiver(client, buf);
  }
}

export class SeqpacketTapRelay implements MessageTapRelay {
  private readonly pairs = new Set<Pair>();
  private nextId = 1;
  private handled = 0;
  private pausedUntil = 0;
  private readonly idle: number;
  /** --fault and --delay on the upstream's messages (reply-shaper.ts). */
  private readonly shaper: ReplyShaper;

  constructor(private readonly h: MessageTapHost) {
    this.idle = h.o.idleTimeout ?? 0;
    this.shaper = new ReplyShaper({ fault: h.o.fault, delay: h.o.delay });
  }

  accepting(now: number): boolean {
    return now >= this.pausedUntil && (this.h.o.count === undefined || this.nextId - 1 < this.h.o.count);
  }

  finished(): boolean {
    return this.h.o.count !== undefined && this.handled >= this.h.o.count && this.pairs.size === 0;
  }

  addPolls(ps: PollSet, now: number): void {
    for (const p of this.pairs) {
      const due = p.toClient.length > 0 && p.toClient[0].due <= now;
      const readClient = !p.clientEof && p.up !== null && p.upBytes < QUEUE_BYTES;
      // A client held open (never-close, silent) after its own end: polled only for its full close.
      p.ci = p.clientEof && this.holding(p) && !due ? ps.addHupOnly(p.client.fd) : ps.add(p.client.fd, (readClient ? POLLIN : 0) | (due ? POLLOUT : 0));
      if (p.up) p.ui = ps.add(p.up.fd, (!p.upEof && p.clientBytes < QUEUE_BYTES ? POLLIN : 0) | (p.toUp.length > 0 ? POLLOUT : 0));
      else p.ui = -1;
    }
  }

  onListener(): void {
    const c = epollLibc();
    const o = this.h.o;
    for (let i = 0; i < BATCH; i++) {
      if (o.count !== undefined && this.nextId - 1 >= o.count) return;
      const fd = c.accept4(this.h.listener.fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const errno = c.errno();
        if (errno === E.EMFILE || errno === E.ENFILE) {
          if (this.pausedUntil === 0) this.h.warn('out of file descriptors: connections wait in the backlog (raise ulimit -n)');
          this.pausedUntil = nowMs() + 100;
        }
        return;
      }
      const p = new Pair(this.nextId++, MessageSocket.adopt(fd, 'seqpacket'), namedPeer(fd), nowMs(), this.h.buf);
      this.pairs.add(p);
      this.h.peer({ event: 'open', kind: 'conn', id: p.id, time: new Date(), peer: p.peer });
      if (o.maxConns !== undefined && this.pairs.size > o.maxConns) {
        p.first = 'tap';
        this.end(p, `over --max-conns ${o.maxConns}: closed at once`);
        continue;
      }
      void this.connectUp(p);
    }
  }

  private async connectUp(p: Pair): Promise<void> {
    const o = this.h.o;
    try {
      const up = await connectMessage(o.upstream, 'seqpacket', o.connectTimeout ?? MESSAGE_TAP_DEFAULTS.connectTimeout, false);
      if (p.ended) return up.close();
      p.up = up;
      p.upRx = new MessageReceiver(up, this.h.buf);
      p.upstreamEnd = 'open';
      p.lastAt = nowMs();
    } catch (err) {
      if (p.ended) return;
      p.first = 'tap';
      this.end(p, `upstream: ${err instanceof UdsError ? `${err.code}: ${err.message}` : (err as Error).message}`);
    }
  }

  onPolled(ps: PollSet): void {
    for (const p of [...this.pairs]) {
      const cr = ps.revents(p.ci);
      const ur = ps.revents(p.ui);
      if (ur & POLLOUT) this.flushUp(p);
      if (!p.ended && cr & POLLOUT) this.flushClient(p, nowMs());
      if (!p.ended && p.clientEof && this.holding(p) && cr & (POLLHUP | POLLERR)) {
        p.clientEnd = 'closed';
        this.end(p, `client closed, held open after the upstream's end: --fault ${this.h.o.fault}`);
      }
      if (!p.ended && cr & (POLLIN | POLLHUP | POLLERR)) this.read(p, 'client');
      if (!p.ended && ur & (POLLIN | POLLHUP | POLLERR)) this.read(p, 'upstream');
      if (!p.ended) this.maybeEnd(p);
    }
  }

  tick(now: number): number {
    let next = Infinity;
    for (const p of [...this.pairs]) {
      if (p.toClient.length > 0) {
        if (p.toClient[0].due <= now) {
          this.flushClient(p, now);
          if (!p.ended) this.maybeEnd(p);
        }
        if (!p.ended && p.toClient.length > 0) next = Math.min(next, p.toClient[0].due - now);
      }
      if (!p.ended && this.idle > 0 && now - p.lastAt >= this.idle) {
        p.first ??= 'tap';
        this.end(p, `idle: no message for ${this.idle}ms`);
      }
    }
    return next;
  }

  private read(p: Pair, side: 'client' | 'upstream'): void {
    const fromClient = side === 'client';
    const rx = fromClient ? p.clientRx : p.upRx!;
    const h = this.h;
    for (let i = 0; i < BATCH && !p.ended; i++) {
      if ((fromClient ? p.upBytes : p.clientBytes) >= QUEUE_BYTES) return;
      let n: number;
      try {
        n = rx.recv(side);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'error';
        this.sideEnded(p, side, code === 'ECONNRESET' ? 'reset' : 'error');
        return this.end(p, `${side} ${code === 'ECONNRESET' ? 'reset' : code}`);
      }
      if (n === RECV_NONE) return;
      // A 0-length message is relayed as one; only the side's end is its end.
      if (n === RECV_END) return this.sideEnded(p, side, 'closed');
      p.lastAt = nowMs();
      let out = h.buf.subarray(0, Math.min(n, h.maxBytes));
      const truncated = n > out.length;
      let note = truncated ? `cut at --max-bytes: ${out.length} of ${n} bytes relayed` : undefined;
      let relayed = true;
      let closeAtReply = false;
      let due = 0;
      if (fromClient) p.messagesUp++;
      else {
        p.messagesDown++;
        const shaper = this.shaper;
        const act = shaper.reply(0, out, out.length, nowMs(), true);
        if (act === SEND || act === DELAY) {
          if (shaper.stripped > 0) note = [note, NO_NEWLINE_NOTE].filter(Boolean).join('; ');
          out = out.subarray(0, shaper.len);
          if (act === DELAY) {
            due = shaper.at;
            note = [note, `held ${shaper.delayMs}ms: --delay`].filter(Boolean).join('; ');
          }
        } else {
          // A message socket has no reset to give: RESET is refused up front (MESSAGE_TAP_FAULTS), taken as CLOSE here.
          relayed = false;
          note = `swallowed: --fault ${h.o.fault}`;
          closeAtReply = act !== SWALLOW;
        }
      }
      if (h.tracing) {
        h.traffic({
          event: 'message',
          id: p.id,
          time: new Date(),
          dir: fromClient ? 'up' : 'down',
          bytes: n,
          data: Buffer.from(h.buf.subarray(0, Math.min(n, h.maxBytes, TRAFFIC_PREVIEW))),
          truncated,
          relayed,
          ...(note ? { note } : {}),
        });
      }
      if (!relayed) {
        if (closeAtReply) {
          p.first = 'tap';
          return this.end(p, 'the client closed without the reply: --fault close-without-reply');
        }
        continue;
      }
      const q = fromClient ? p.toUp : p.toClient;
      // Sent straight from the receive buffer when nothing waits before it; copied only to queue.
      if (q.length === 0 && due === 0 && this.sendNow(p, fromClient ? 'upstream' : 'client', out)) continue;
      if (p.ended) return;
      q.push({ buf: Buffer.from(out), due });
      if (fromClient) p.upBytes += out.length;
      else p.clientBytes += out.length;
    }
  }

  /** Send one message to `to`; false when its queue is full (EAGAIN). A send error ends the pair. */
  private sendNow(p: Pair, to: 'client' | 'upstream', buf: Uint8Array): boolean {
    try {
      return (to === 'client' ? p.client : p.up!).trySend(buf, to) >= 0;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      this.sideEnded(p, to, code === 'ECONNRESET' ? 'reset' : 'closed');
      this.end(p, `${to} gone (${code}) with messages left to deliver`);
      return false;
    }
  }

  private flushUp(p: Pair): void {
    while (p.toUp.length > 0 && !p.ended) {
      const m = p.toUp[0];
      if (!this.sendNow(p, 'upstream', m.buf)) return;
      p.toUp.shift();
      p.upBytes -= m.buf.length;
    }
  }

  private flushClient(p: Pair, now: number): void {
    while (p.toClient.length > 0 && p.toClient[0].due <= now && !p.ended) {
      const m = p.toClient[0];
      if (!this.sendNow(p, 'client', m.buf)) return;
      p.toClient.shift();
      p.clientBytes -= m.buf.length;
    }
  }

  private sideEnded(p: Pair, side: 'client' | 'upstream', how: SideEnd): void {
    p.first ??= side;
    if (side === 'client') {
      p.clientEof = true;
      p.clientEnd = how;
    } else {
      p.upEof = true;
      p.upstreamEnd = how;
    }
  }

  /** Relay each end once what came before it is delivered; end the pair when both are done. */
  private maybeEnd(p: Pair): void {
    const c = epollLibc();
    if (p.clientEof && p.up && !p.upShut && p.toUp.length === 0) {
      p.upShut = true;
      c.shutdown(p.up.fd, SHUT_WR);
    }
    const hold = this.holding(p);
    if (p.upEof && !p.clientShut && p.toClient.length === 0) {
      if (hold) {
        if (p.clientEnd === 'open' || p.clientEnd === 'closed') p.clientEnd = 'held-open';
      } else {
        p.clientShut = true;
        c.shutdown(p.client.fd, SHUT_WR);
      }
    }
    if (!hold && p.clientEof && (p.upEof || !p.up) && p.toClient.length === 0 && p.toUp.length === 0) {
      this.end(p, p.first === 'upstream' ? 'upstream closed first, then the client' : 'client closed first, then the upstream');
    }
  }

  /** never-close, silent: the client is kept open after the upstream's end (until it closes, or --idle-timeout). */
  private holding(p: Pair): boolean {
    return p.upEof && this.shaper.upstreamEnd() === HOLD_OPEN;
  }

  private end(p: Pair, reason: string): void {
    if (p.ended) return;
    p.ended = true;
    this.pairs.delete(p);
    this.handled++;
    if (p.clientEnd === 'open') p.clientEnd = 'closed';
    if (p.up && p.upstreamEnd === 'open') p.upstreamEnd = 'closed';
    p.client.close();
    p.up?.close();
    this.h.peer({
      event: 'close',
      kind: 'conn',
      id: p.id,
      time: new Date(),
      peer: p.peer,
      messagesUp: p.messagesUp,
      messagesDown: p.messagesDown,
      first: p.first,
      clientEnd: p.clientEnd,
      upstreamEnd: p.upstreamEnd,
      reason,
    });
  }

  closeAll(reason: string): void {
    for (const p of [...this.pairs]) {
      p.first ??= 'tap';
      this.end(p, reason);
    }
  }
}
