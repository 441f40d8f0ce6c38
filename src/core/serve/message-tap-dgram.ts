/**
 * The dgram tap's relay (message-tap.ts). The listener is a bound dgram
 * socket. Each sender that bound an address gets a socket of the tap's own,
 * autobound (Linux: a unique abstract name, nothing to clean up) and
 * connected to the upstream, so the upstream's replies come back on it and
 * are sent on to that sender's address from the listener (the address the
 * sender talks to). A sender that bound no address cannot be answered: its
 * datagrams go one way through one shared socket.
 * Bounded: at most maxConns senders (the one idle longest is evicted for a
 * new one), each closed after idleTimeout without traffic (60s when 0); a
 * datagram whose destination queue is full is dropped and counted (there is
 * no backpressure on a datagram socket to give); --delay's queue capped.
 */
import { nowMs } from '../clock.js';
import { E } from '../socket/ffi.js';
import { MessageSocket, sockaddrOf } from '../socket/message.js';
import { MessageReceiver, RECV_NONE } from '../socket/message-recv.js';
import type { NamedPeer } from '../socket/peer.js';
import { MESSAGE_TAP_DEFAULTS } from './message-tap-records.js';
import { type MessageTapHost, type MessageTapRelay, POLLERR, POLLIN, type PollSet } from './message-tap-poll.js';
import { SERVE_DEFAULTS } from './options.js';
import { NO_NEWLINE_NOTE } from './protocol.js';
import { DELAY, ReplyShaper, SEND } from './reply-shaper.js';
import { TRAFFIC_PREVIEW } from './tap-records.js';

const BATCH = 64;
/** --delay's queue: replies held at once, and their bytes. */
const DELAYED_MAX = 256;
const DELAYED_BYTES = 4 * 1024 * 1024;
/** After --count's last datagram: the tap ends once no reply came for this long (bounded by graceTimeout). */
const QUIET_MS = 500;
const UNBOUND_NOTE = 'replies cannot be returned: the sender bound no address';

interface Sender {
  id: number;
  key: string;
  addr: Buffer;
  from: string;
  sock: MessageSocket;
  lastAt: number;
  up: number;
  down: number;
  pi: number;
}

export class DgramTapRelay implements MessageTapRelay {
  /** In order of last traffic (re-inserted on each): the first is the one idle longest. */
  private readonly senders = new Map<string, Sender>();
  private shared: MessageSocket | null = null;
  private readonly delayed: { s: Sender; buf: Buffer; due: number }[] = [];
  private delayedBytes = 0;
  private nextId = 1;
  private received = 0;
  private dropped = 0;
  private countAt = 0;
  private lastAt = 0;
  private readonly idle: number;
  private readonly max: number;
  /** --fault and --delay on the upstream's datagrams (reply-shaper.ts). */
  private readonly shaper: ReplyShaper;
  private readonly upAddr: Buffer;
  /**
   * The listener's datagrams with their senders (address; pid, uid, gid from SCM_CREDENTIALS), as serve --type dgram
   * receives them. Made with the relay, right after bind: the kernel attaches a sender's credentials as the datagram
   * is queued, and only once SO_PASSCRED is on (as root a sender may send them itself, which hid a lazy start).
   */
  private readonly rx: MessageReceiver;

  constructor(private readonly h: MessageTapHost) {
    this.idle = h.o.idleTimeout || MESSAGE_TAP_DEFAULTS.dgramIdle;
    this.max = h.o.maxConns ?? MESSAGE_TAP_DEFAULTS.dgramSenders;
    this.shaper = new ReplyShaper({ fault: h.o.fault, delay: h.o.delay });
    this.upAddr = sockaddrOf(h.o.upstream);
    this.rx = new MessageReceiver(h.listener, h.buf);
  }

  accepting(): boolean {
    return this.countAt === 0;
  }

  finished(now: number): boolean {
    if (this.countAt === 0) return false;
    return now - this.countAt >= (this.h.o.graceTimeout ?? SERVE_DEFAULTS.graceTimeout) || (this.delayed.length === 0 && now - this.lastAt >= QUIET_MS);
  }

  addPolls(ps: PollSet): void {
    for (const s of this.senders.values()) s.pi = ps.add(s.sock.fd, POLLIN);
  }

  private record(dir: 'up' | 'down', id: number, from: string, n: number, relayed: boolean, note?: string, peer?: NamedPeer | null): void {
    const h = this.h;
    if (!h.tracing) return;
    const kept = Math.min(n, h.maxBytes);
    const cut = n > kept ? `cut at --max-bytes: ${kept} of ${n} bytes relayed` : '';
    note = [cut, note].filter(Boolean).join('; ');
    h.traffic({ event: 'datagram', id, time: new Date(), dir, from, bytes: n, data: Buffer.from(h.buf.subarray(0, Math.min(kept, TRAFFIC_PREVIEW))), truncated: n > kept, relayed, ...(peer ? { peer } : {}), ...(note ? { note } : {}) });
  }

  private drop(): string {
    return `${++this.dropped} dropped so far`;
  }

  onListener(): void {
    const h = this.h;
    for (let i = 0; i < BATCH && this.countAt === 0 && !h.stopping; i++) {
      let n: number;
      try {
        n = this.rx.recv("the tap's socket");
      } catch (err) {
        // A pending socket error (not expected on an unconnected socket): said, and the next round goes on.
        return h.warn(`receiving: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      if (n === RECV_NONE) return;
      const now = nowMs();
      this.lastAt = now;
      const rx = this.rx;
      const from = rx.fromAddress();
      // Named only when somebody reads the records: a /proc read per datagram otherwise spent for nothing.
      const peer = h.tracing ? rx.namedSender() : null;
      const data = h.buf.subarray(0, Math.min(n, h.maxBytes));
      if (++this.received === h.o.count) this.countAt = now;
      if (from === '') {
        this.forward(null, data, n, UNBOUND_NOTE, peer);
        continue;
      }
      const addr = rx.fromSockaddr();
      const key = addr.toString('latin1');
      let s = this.senders.get(key);
      if (s) this.senders.delete(key);
      else s = this.open(key, from, addr) ?? undefined;
      if (!s) {
        this.record('up', 0, from, n, false, `not relayed: no socket to the upstream (${this.drop()})`, peer);
        continue;
      }
      this.senders.set(key, s);
      s.lastAt = now;
      s.up++;
      this.forward(s, data, n, undefined, peer);
    }
  }

  /** A new sender's own socket to the upstream; the one idle longest is evicted when at --max-conns. */
  private open(key: string, from: string, addr: Buffer): Sender | null {
    if (this.senders.size >= this.max) {
      const oldest = this.senders.values().next().value as Sender;
      this.close(oldest, `evicted: idle longest of ${this.max} senders (--max-conns) when ${from} came`);
    }
    let sock: MessageSocket | null = null;
    try {
      sock = MessageSocket.create('dgram', this.h.o.upstream.display);
      sock.autobind();
      sock.connect(this.upAddr, this.h.o.upstream.display);
    } catch (err) {
      sock?.close();
      this.h.warn(`${this.h.o.upstream.display}: cannot relay for ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return null;
    }
    const s: Sender = { id: this.nextId++, key, addr, from, sock, lastAt: nowMs(), up: 0, down: 0, pi: -1 };
    this.h.peer({ event: 'open', kind: 'sender', id: s.id, time: new Date(), from });
    return s;
  }

  /** Client to upstream: on the sender's socket, or the shared one for an unbound sender. */
  private forward(s: Sender | null, data: Buffer, n: number, note?: string, peer?: NamedPeer | null): void {
    let sock = s?.sock ?? this.shared;
    try {
      if (!sock) {
        sock = MessageSocket.create('dgram', this.h.o.upstream.display);
        this.shared = sock;
        sock.connect(this.upAddr, this.h.o.upstream.display);
      }
      const sent = sock.trySend(data, this.h.o.upstream.display);
      if (sent >= 0) return this.record('up', s?.id ?? 0, s?.from ?? '', n, true, note, peer);
      this.record('up', s?.id ?? 0, s?.from ?? '', n, false, `dropped: the upstream's queue is full (${this.drop()})`, peer);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.record('up', s?.id ?? 0, s?.from ?? '', n, false, `not relayed: upstream ${code} (${this.drop()})`, peer);
      // A connected socket whose upstream went (restarted, stale): a new one for the next datagram.
      if (s) this.close(s, `upstream gone (${code})`);
      else {
        this.shared?.close();
        this.shared = null;
      }
    }
  }

  onPolled(ps: PollSet): void {
    for (const s of [...this.senders.values()]) if (ps.revents(s.pi) & (POLLIN | POLLERR)) this.readReplies(s);
  }

  private readReplies(s: Sender): void {
    const h = this.h;
    for (let i = 0; i < BATCH; i++) {
      let n: number;
      try {
        n = s.sock.tryRecv(h.buf, h.o.upstream.display);
      } catch (err) {
        // A connected dgram socket learns that its peer went (ECONNREFUSED): a new socket next time.
        return this.close(s, `upstream gone (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      }
      if (n === -E.EAGAIN) return;
      const now = nowMs();
      this.lastAt = s.lastAt = now;
      s.down++;
      this.senders.delete(s.key);
      this.senders.set(s.key, s);
      const shaper = this.shaper;
      const act = shaper.reply(0, h.buf, Math.min(n, h.maxBytes), now, true);
      if (act !== SEND && act !== DELAY) {
        // silent (the others are refused up front: MESSAGE_TAP_FAULTS; a datagram has no end to give)
        this.record('down', s.id, s.from, n, false, `swallowed: --fault ${h.o.fault}`);
        continue;
      }
      const out = h.buf.subarray(0, shaper.len);
      const note = shaper.stripped > 0 ? NO_NEWLINE_NOTE : undefined;
      if (act === DELAY) {
        if (this.delayed.length >= DELAYED_MAX || this.delayedBytes + out.length > DELAYED_BYTES) {
          this.record('down', s.id, s.from, n, false, `dropped: --delay's queue is full (${this.drop()})`);
          continue;
        }
        this.delayed.push({ s, buf: Buffer.from(out), due: shaper.at });
        this.delayedBytes += out.length;
        this.record('down', s.id, s.from, n, true, [note, `held ${shaper.delayMs}ms: --delay`].filter(Boolean).join('; '));
        continue;
      }
      const sent = this.reply(s, out);
      this.record('down', s.id, s.from, n, sent === null, sent ?? note);
    }
  }

  /** Send a reply to its sender from the listener; null when sent, else why not. */
  private reply(s: Sender, buf: Uint8Array): string | null {
    try {
      if (this.h.listener.trySend(buf, s.from, s.addr) >= 0) return null;
      return `dropped: the sender's queue is full (${this.drop()})`;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return `not returned: the sender is gone (${code}; ${this.drop()})`;
    }
  }

  tick(now: number): number {
    while (this.delayed.length > 0 && this.delayed[0].due <= now) {
      const d = this.delayed.shift()!;
      this.delayedBytes -= d.buf.length;
      const why = this.reply(d.s, d.buf);
      if (why) this.h.warn(`a delayed reply to ${d.s.from}: ${why}`);
    }
    for (const s of [...this.senders.values()]) {
      if (now - s.lastAt < this.idle) break; // in order of last traffic: the rest are newer
      this.close(s, `idle: no datagram for ${this.idle}ms`);
    }
    return this.delayed.length > 0 ? this.delayed[0].due - now : Infinity;
  }

  private close(s: Sender, reason: string): void {
    if (this.senders.get(s.key) !== s) return;
    this.senders.delete(s.key);
    s.sock.close();
    this.h.peer({ event: 'close', kind: 'sender', id: s.id, time: new Date(), from: s.from, messagesUp: s.up, messagesDown: s.down, reason });
  }

  closeAll(reason: string): void {
    for (const s of [...this.senders.values()]) this.close(s, reason);
    this.shared?.close();
    this.shared = null;
  }
}
