/**
 * One relayed connection of the tap (tap.ts): the client's socket and its
 * upstream's, each direction's backpressure, half-closes and resets relayed,
 * the record of how each side ended, and the reply shaper's actions
 * (reply-shaper.ts: --fault and --delay, the TapServer's one shaper, a slot
 * per connection) carried out on the upstream's reply: --delay's ordered
 * queue is the only reply state kept here. The listener, the limits and
 * shutdown are the TapServer's (TapHost here, so this file does not import it).
 *
 * About 480 lines because the relay is one state machine (two sockets whose
 * events share the state above, and the upstream's connect, which the state
 * decides about when it completes) kept in one class on purpose.
 */
import net from 'node:net';
import { nowUs } from '../clock.js';
import { UdsError, codeOfErrno, connectTimeoutError } from '../errors.js';
import { DEFAULT_CONNECT_TIMEOUT_MS } from '../defaults.js';
import { openConnection } from '../socket/connect.js';
import { hasUnreadData, peekUnread, peerClosed } from '../socket/fd.js';
import { socketFd } from '../socket/net-fd.js';
import { type Target, fsPath } from '../socket/target.js';
import { type Fault, SERVE_DEFAULTS } from './options.js';
import { type ConnEnd, type ConnectionLog, type ServeOptions, faultReason, preview, reasonIdle, reasonUnread } from './protocol.js';
import { CLOSE, DELAY, HOLD_OPEN, RESET, type ReplyShaper, SWALLOW } from './reply-shaper.js';
import { type FileIdentity, leadsToOwnFile, selfUpstreamError } from './self-upstream.js';
import { CLOSED_AT_REPLY_NOTE, END_AFTER_RESET_NOTE, PEEKED_NOTE, RESET_AT_REPLY_NOTE, type SideEnd, TRAFFIC_PREVIEW, type TrafficLog, heldOpenNote } from './tap-records.js';

/** The tap's own options (with ServeOptions' faults and limits; reply/echo/keep-alive/read do not apply). */
export interface TapOptions extends ServeOptions {
  /** Where each connection is relayed to. */
  upstream: Target;
  /** Bound on connecting to the upstream. Default 5s. */
  connectTimeout?: number;
}

export const TAP_DEFAULTS = { connectTimeout: DEFAULT_CONNECT_TIMEOUT_MS } as const;

/** Reply bytes held back by --delay before the upstream is paused: flat memory whatever it sends. */
const DELAY_HIGH_WATER = 64 * 1024;

/** A relayed connection's record: serve's, and how each side ended and which ended first. */
export interface TapConnectionLog extends ConnectionLog {
  /** The upstream, as given. */
  upstream: string;
  /** Which side ended first (a half-close, a close or a reset); 'tap' when the tap ended it (fault, limit, shutdown). */
  first?: 'client' | 'upstream' | 'tap';
  clientEnd: SideEnd;
  upstreamEnd: SideEnd;
}

/** What a connection needs of its server. */
export interface TapHost {
  readonly options: TapOptions;
  /** The listening address (a TCP client is reset with a real RST). */
  readonly target: Target;
  /** Whether somebody listens for 'traffic' (records are made only then). */
  readonly tracing: boolean;
  /** Whether somebody wants the connection's record (its previews are kept only then). */
  readonly recording: boolean;
  readonly closingNow: boolean;
  /** --fault and --delay: one shaper for all connections, a slot each (takeSlot, freeSlot). */
  readonly shaper: ReplyShaper;
  /** The note on each upstream data record (tap-records.ts's shapedReplyNote), made once. */
  readonly replyNote: string | undefined;
  /** The tap's own socket file (a Unix path), once it listens: an upstream path that leads to it is not connected. */
  readonly ownFile: FileIdentity | null;
  takeSlot(): number;
  freeSlot(slot: number): void;
  traffic(log: TrafficLog): void;
  /** The connection's end; its record is made by record(), only when wanted. */
  finished(c: TapConnection): void;
}

/** Whether this errno ends a stream as a reset. */
const isReset = (code: string | undefined) => code === 'ECONNRESET' || code === 'EPIPE';

/** One client's connection and its upstream's. */
export class TapConnection {
  private readonly wallStart = Date.now();
  private readonly start0 = nowUs();
  private readonly o: TapOptions;
  private readonly trace: boolean;
  /** Whether the record is wanted: its request and reply previews are copied only then (-q copies nothing). */
  private readonly keep: boolean;
  /**
   * Ended while the upstream's connect was under way: the connect is left to
   * finish (bounded by connectTimeout) and its socket closed, rather than an
   * AbortController made per connection (a measurable share of one-shot cost).
   */
  private ended = false;
  private upstream: net.Socket | null = null;
  private bytesUp = 0;
  private bytesDown = 0;
  private chunksUp = 0;
  private firstUp?: Buffer;
  private firstDown?: Buffer;
  private clientEnd: SideEnd = 'open';
  private upstreamEnd: SideEnd = 'never-connected';
  private first?: 'client' | 'upstream' | 'tap';
  private end?: ConnEnd;
  private reason?: string;
  private clientClosed = false;
  private upstreamClosed = true;
  private done = false;
  /** A fault keeps the client open after the upstream ended (never-close, silent). */
  holding = false;
  // The reply path: the shaper and this connection's slot in it, --delay's ordered queue (null: the upstream's end).
  private readonly shaper: ReplyShaper;
  private readonly slot: number;
  private readonly queue: { buf: Buffer | null; due: number }[] = [];
  private queued = 0;
  private timer: NodeJS.Timeout | null = null;
  private upPaused = false;
  /** The shaper's CLOSE or RESET was carried out: the rest of the reply is dropped. */
  private cut: typeof CLOSE | typeof RESET | 0 = 0;

  constructor(
    private readonly tap: TapHost,
    private readonly client: net.Socket,
    readonly id: number,
  ) {
    this.o = tap.options;
    this.trace = tap.tracing;
    this.keep = tap.recording;
    this.shaper = tap.shaper;
    this.slot = tap.takeSlot();
  }

  private get fault(): Fault | undefined {
    return this.o.fault;
  }

  private emit(from: TrafficLog['from'], kind: TrafficLog['kind'], extra?: Partial<TrafficLog>): void {
    if (!this.trace) return;
    this.tap.traffic({ id: this.id, at: new Date().toISOString(), sinceUs: Math.round(nowUs() - this.start0), from, kind, ...extra });
  }

  /** The connection's end word, the first one set; a fault's (`fault`) overrides a clean close: it is what happened to the client. */
  private setEnd(e: ConnEnd, why?: string, first?: 'client' | 'upstream' | 'tap', fault = false): void {
    if (this.end === undefined || (fault && this.end === 'closed')) {
      this.end = e;
      this.reason = why;
    }
    if (first) this.first ??= first;
  }

  start(): void {
    const c = this.client;
    c.on('error', (err: NodeJS.ErrnoException) => {
      if (this.clientEnd === 'open' || this.clientEnd === 'half-closed') this.clientEnd = isReset(err.code) ? 'reset' : 'error';
      this.emit('client', isReset(err.code) ? 'reset' : 'error', { code: codeOfErrno(err.code), errno: err.code, note: this.upstreamClosed ? undefined : 'resetting the upstream' });
      this.setEnd(isReset(err.code) ? 'client-reset' : 'error', err.code ?? err.message, 'client');
      this.resetSocket(this.upstream);
    });
    c.on('close', () => {
      this.clientClosed = true;
      if (this.clientEnd === 'open' || this.clientEnd === 'half-closed' || this.clientEnd === 'held-open') {
        this.emit('client', 'close');
        this.clientEnd = this.clientEnd === 'held-open' ? 'held-open' : 'closed';
      }
      this.first ??= 'client';
      if (this.timer) clearTimeout(this.timer);
      this.ended = true;
      this.upstream?.destroy();
      this.maybeFinish();
    });
    const idle = this.o.idleTimeout ?? SERVE_DEFAULTS.idleTimeout;
    if (idle > 0) {
      c.setTimeout(idle, () => {
        this.setEnd('idle-timeout', c.writableLength > 0 || this.upPaused ? reasonUnread(idle) : reasonIdle(idle), 'tap');
        this.shutdown();
      });
    }
    this.connect();
  }

  /**
   * The upstream's connect. A path or TCP address is connected directly with
   * node:net (no promise, no AbortController, and for a Unix path no timer:
   * its connect(2) never blocks, it succeeds, fails or finds the backlog full
   * at once). Any failure, and an abstract name, goes through openConnection,
   * which retries a full backlog until the deadline and types the error.
   */
  private connect(): void {
    const t = this.o.upstream;
    if (t.kind === 'abstract') return void this.connectSlow(this.connectTimeout);
    // The upstream path became this tap's own socket (a symlink made since it started): no chain of relays to ourselves.
    if (t.kind === 'unix' && leadsToOwnFile(fsPath(t.path), this.tap.ownFile)) return this.upstreamFailed(selfUpstreamError(t.display));
    const up = t.kind === 'unix' ? net.connect(t.path) : net.connect(t.port, t.host);
    const onError = () => {
      up.destroy();
      if (t.kind === 'tcp') up.setTimeout(0);
      if (this.ended || this.clientClosed) return this.maybeFinish();
      void this.connectSlow(Math.max(1, this.connectTimeout - Math.round((nowUs() - this.start0) / 1000)));
    };
    up.once('error', onError);
    if (t.kind === 'tcp') {
      up.setTimeout(this.connectTimeout, () => {
        up.removeListener('error', onError);
        up.destroy();
        if (this.ended || this.clientClosed) return this.maybeFinish();
        this.upstreamFailed(connectTimeoutError(t.display, this.connectTimeout));
      });
    }
    up.once('connect', () => {
      up.removeListener('error', onError);
      if (t.kind === 'tcp') up.setTimeout(0);
      this.connected(up);
    });
  }

  private get connectTimeout(): number {
    return this.o.connectTimeout ?? TAP_DEFAULTS.connectTimeout;
  }

  /** openConnection: the backlog retries, the typed errors, abstract names. */
  private async connectSlow(timeout: number): Promise<void> {
    let up: net.Socket;
    try {
      up = await openConnection(this.o.upstream, { connectTimeout: timeout });
    } catch (err) {
      // Ended meanwhile (the client's close, shutdown, idle): the client's 'close' finishes the record.
      if (this.ended || this.clientClosed) return this.maybeFinish();
      return this.upstreamFailed(err);
    }
    this.connected(up);
  }

  /** The upstream could not be reached: the client is closed without a reply, the log says why. */
  private upstreamFailed(err: unknown): void {
    const e = err instanceof UdsError ? err : new UdsError('IO_ERROR', String((err as Error)?.message ?? err));
    const errno = (e.cause as NodeJS.ErrnoException | undefined)?.code;
    if (this.trace) this.emit('upstream', 'error', { code: e.code, ...(errno ? { errno } : {}), note: `${e.message}; closing the client` });
    this.setEnd('error', `upstream ${e.code}: ${e.message}`, 'upstream');
    this.client.destroy();
  }

  private connected(up: net.Socket): void {
    const o = this.o;
    if (this.clientClosed || this.ended) {
      up.destroy();
      return this.maybeFinish();
    }
    this.upstream = up;
    this.upstreamClosed = false;
    this.upstreamEnd = 'open';
    // A socket made from a descriptor (an abstract name) is not half-open by default; a relay must be.
    up.allowHalfOpen = true;
    if (o.upstream.kind === 'tcp') up.setNoDelay(true);
    if (this.trace) this.emit('upstream', 'connect', { note: o.upstream.display });
    this.wire(up);
  }

  private wire(up: net.Socket): void {
    const c = this.client;
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') {
        // The upstream closed before taking all the client's bytes: its end (already relayed) says the rest.
        this.emit('upstream', 'close', { errno: err.code, note: "closed before taking all of the client's bytes" });
        this.upstreamEnd = 'closed';
        return;
      }
      if (this.upstreamEnd === 'open' || this.upstreamEnd === 'half-closed') this.upstreamEnd = isReset(err.code) ? 'reset' : 'error';
      this.emit('upstream', isReset(err.code) ? 'reset' : 'error', { code: codeOfErrno(err.code), errno: err.code, note: this.clientClosed ? undefined : 'resetting the client' });
      this.setEnd(isReset(err.code) ? 'reset' : 'error', `upstream ${err.code ?? err.message}`, 'upstream');
      this.resetSocket(c);
    });
    up.on('close', () => {
      this.upstreamClosed = true;
      if (this.upstreamEnd === 'open' || this.upstreamEnd === 'half-closed') {
        this.emit('upstream', 'close');
        this.upstreamEnd = 'closed';
      }
      this.maybeFinish();
    });
    up.on('data', (chunk: Buffer) => this.fromUpstream(chunk));
    up.on('end', () => {
      const gone = this.peerGone(up, this.o.upstream);
      this.upstreamEnd = gone ? 'closed' : 'half-closed';
      this.setEnd('closed', undefined, 'upstream');
      this.emit('upstream', gone ? 'close' : 'half-close', { note: this.endNote() });
      // Relayed (or, HOLD_OPEN, not) after the replies --delay holds, with no wait of its own.
      const q = this.queue;
      if (q.length > 0) this.later(null, q[q.length - 1].due);
      else this.deliver(null);
    });
    c.on('drain', () => this.updateUp());
    if (this.shaper.resetsAtReply && this.tap.target.kind !== 'tcp') return this.relayPeeked(up);
    // client -> upstream, the client paused while the upstream has not taken the last chunk.
    up.on('drain', () => {
      if (!c.destroyed) c.resume();
    });
    c.on('data', (chunk: Buffer) => {
      this.bytesUp += chunk.length;
      this.chunksUp++;
      if (this.keep) this.firstUp ??= Buffer.from(chunk.subarray(0, 200));
      if (this.trace) this.emit('client', 'data', { bytes: chunk.length, offset: this.bytesUp - chunk.length, data: Buffer.from(chunk.subarray(0, TRAFFIC_PREVIEW)) });
      if (!up.write(chunk)) c.pause();
    });
    c.on('end', () => {
      const gone = this.peerGone(c, this.tap.target);
      this.clientEnd = gone ? 'closed' : 'half-closed';
      this.first ??= 'client';
      this.emit('client', gone ? 'close' : 'half-close', { note: up.writable ? 'relayed to the upstream as a half-close' : undefined });
      if (up.writable) up.end();
      // A held client that is gone for good must not keep its slot until --idle-timeout.
      if (gone && this.holding && c.writable) c.end();
    });
    c.resume();
  }

  /**
   * Whether the peer closed for good rather than half-closed: Node sees one
   * 'end' for both; for a Unix socket the kernel tells them apart (POLLHUP).
   */
  private peerGone(s: net.Socket, t: Target): boolean {
    // Only the log's words and the holding faults need to know: a syscall saved per end otherwise.
    if (t.kind === 'tcp' || !(this.trace || this.shaper.holdsOpen)) return false;
    const fd = socketFd(s);
    return fd !== undefined && fd >= 0 && peerClosed(fd);
  }

  /** What the tap does with the upstream's end, for the log. */
  private endNote(): string {
    if (this.shaper.upstreamEnd() === HOLD_OPEN) return heldOpenNote(this.fault);
    if (this.cut === RESET) return END_AFTER_RESET_NOTE;
    if (this.cut === CLOSE) return CLOSED_AT_REPLY_NOTE;
    return 'relayed to the client as a half-close';
  }

  /** The upstream's bytes, on their way to the client: the shaper's action carried out. */
  private fromUpstream(chunk: Buffer): void {
    this.bytesDown += chunk.length;
    if (this.keep) this.firstDown ??= Buffer.from(chunk.subarray(0, 200));
    if (this.trace) this.emit('upstream', 'data', { bytes: chunk.length, offset: this.bytesDown - chunk.length, data: Buffer.from(chunk.subarray(0, TRAFFIC_PREVIEW)), note: this.tap.replyNote });
    if (this.cut !== 0) return;
    const sh = this.shaper;
    const act = sh.reply(this.slot, chunk, chunk.length, Date.now(), false);
    if (act === SWALLOW) return;
    if (act === RESET) return this.resetAtReply();
    if (act === CLOSE) {
      this.cut = CLOSE;
      if (!this.client.destroyed) this.client.end();
      return this.setEnd('closed', faultReason('close-without-reply'), 'tap', true);
    }
    if (sh.len === 0) return; // no-newline: only line ends, held
    // The chunk itself, or (no-newline) the shaper's scratch, copied: a write may keep it past this call.
    const out = sh.data === chunk ? (sh.len === chunk.length ? chunk : chunk.subarray(0, sh.len)) : Buffer.from(sh.data.subarray(0, sh.len));
    if (act === DELAY) return this.later(out, sh.at);
    this.deliver(out);
  }

  /** RESET: the client is reset instead of getting the reply (its request left unread on a Unix socket: relayPeeked). */
  private resetAtReply(): void {
    this.cut = RESET;
    this.setEnd('reset', faultReason('reset'), 'tap', true);
    if (!this.client.destroyed) this.clientEnd = 'reset';
    this.emit('tap', 'reset', { note: RESET_AT_REPLY_NOTE });
    this.resetSocket(this.client);
  }

  /** DELAY: the reply waits in order for its time (due, ms since the epoch); null is the upstream's end, after what waits. */
  private later(buf: Buffer | null, due: number): void {
    this.queue.push({ buf, due });
    if (buf) this.queued += buf.length;
    this.updateUp();
    this.timer ??= setTimeout(() => this.release(), Math.max(0, due - Date.now()));
  }

  private release(): void {
    this.timer = null;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) {
      const { buf } = this.queue.shift()!;
      if (buf) this.queued -= buf.length;
      this.deliver(buf);
    }
    if (this.queue.length > 0) this.timer = setTimeout(() => this.release(), this.queue[0].due - now);
    this.updateUp();
  }

  /** To the client: reply bytes as the shaper made them, or the upstream's end (null). */
  private deliver(buf: Buffer | null): void {
    const c = this.client;
    if (c.destroyed) return;
    if (buf !== null) {
      if (!c.write(buf)) this.updateUp();
      return;
    }
    // After CLOSE the client has had its end; after RESET it is gone.
    if (this.cut !== 0) return;
    if (this.shaper.upstreamEnd() === HOLD_OPEN && this.clientEnd !== 'closed') {
      this.holding = true;
      this.clientEnd = 'held-open';
      this.setEnd('left-open', faultReason(this.fault!), 'tap', true);
      return;
    }
    if (c.writable) c.end();
  }

  /** Pause the upstream while the client has not taken the reply or --delay holds too much; resume once it has. */
  private updateUp(): void {
    const up = this.upstream;
    if (!up || up.destroyed) return;
    const blocked = this.client.writableNeedDrain || this.queued >= DELAY_HIGH_WATER;
    if (blocked && !this.upPaused) {
      this.upPaused = true;
      up.pause();
    } else if (!blocked && this.upPaused) {
      this.upPaused = false;
      up.resume();
    }
  }

  /**
   * The reset fault on a Unix socket: its peer sees ECONNRESET only when we
   * close with its bytes unread. So the request is peeked, not read: relayed
   * to the upstream and left queued; the upstream's reply then closes the client.
   */
  private relayPeeked(up: net.Socket): void {
    const fd = socketFd(this.client);
    const idle = this.o.idleTimeout ?? SERVE_DEFAULTS.idleTimeout;
    const deadline = Date.now() + (idle > 0 ? idle : SERVE_DEFAULTS.idleTimeout);
    const poll = () => {
      this.timer = null;
      if (this.client.destroyed || up.destroyed) return;
      if (fd === undefined || fd < 0) return this.resetSocket(this.client);
      if (!hasUnreadData(fd)) {
        if (Date.now() < deadline) this.timer = setTimeout(poll, 2);
        else this.shutdown();
        return;
      }
      const buf = Buffer.allocUnsafe(64 * 1024);
      const n = peekUnread(fd, buf);
      const chunk = Buffer.from(buf.subarray(0, n));
      this.bytesUp += n;
      this.chunksUp++;
      if (this.keep) this.firstUp = Buffer.from(chunk.subarray(0, 200));
      this.emit('client', 'data', { bytes: n, offset: 0, data: chunk.subarray(0, TRAFFIC_PREVIEW), note: PEEKED_NOTE });
      up.write(chunk);
    };
    poll();
  }

  /** Reset a socket: TCP has a real RST; a Unix peer sees ECONNRESET when bytes are left unread, else the end. */
  private resetSocket(s: net.Socket | null): void {
    if (!s || s.destroyed) return;
    const tcp = s === this.client ? this.tap.target.kind === 'tcp' : this.o.upstream.kind === 'tcp';
    if (tcp) s.resetAndDestroy();
    else s.destroy();
  }

  /** End both sides now (shutdown, abort, idle). */
  shutdown(): void {
    if (this.tap.closingNow) this.setEnd('shutdown', undefined, 'tap');
    this.first ??= 'tap';
    this.ended = true;
    this.upstream?.destroy();
    this.client.destroy();
  }

  private maybeFinish(): void {
    if (this.done || !this.clientClosed || !this.upstreamClosed) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.tap.freeSlot(this.slot);
    this.tap.finished(this);
  }

  /** The connection's record (made only for somebody who listens: -q makes none). */
  record(): TapConnectionLog {
    return {
      id: this.id,
      at: new Date(this.wallStart).toISOString(),
      bytesIn: this.bytesUp,
      bytesOut: this.bytesDown,
      requests: this.chunksUp,
      request: preview(this.firstUp),
      reply: preview(this.firstDown),
      durationUs: Math.round(nowUs() - this.start0),
      end: this.end ?? 'client-closed',
      ...(this.fault ? { fault: this.fault } : {}),
      ...(this.reason ? { reason: this.reason } : {}),
      upstream: this.o.upstream.display,
      ...(this.first ? { first: this.first } : {}),
      clientEnd: this.clientEnd,
      upstreamEnd: this.upstreamEnd,
    };
  }
}
