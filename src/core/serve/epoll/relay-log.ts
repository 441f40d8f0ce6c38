/**
 * The tap's epoll relay's log (relay-thread.ts): the net tap's records
 * (tap-connection.ts) made from the relay's events, in the thread. Each
 * 'traffic' record (the upstream's connect, a chunk, a half-close, a close, a
 * reset, an error) is rendered as it happens, and each connection's record
 * when it ends, by the renderers ThreadConfig.logTo names, into the thread's
 * own log (ThreadLog): nothing crosses to the main thread, nothing waits for
 * the log's reader (past LOG_BUFFER a record is dropped whole, and counted).
 *
 * The relay calls this only when it logs (serve -q makes no RelayLog). Per
 * connection, the counters and the request/reply previews live in typed
 * arrays by slot; the records are two reused entries (a renderer keeps nothing
 * of them), a chunk's preview a view of the read buffer, rendered before the
 * buffer is read into again.
 *
 * About 470 lines: one method per relay event (faults included), each setting the same per-slot
 * state the connection's record is made from at its end.
 */
import { backlogFullError, codeOfErrno, connectTimeoutError, fromConnectErrno } from '../../errors.js';
import { decodeKeepingBytes } from '../../escape.js';
import type { LineWriter } from '../../line-writer.js';
import { POLLHUP, errnoName } from '../../socket/ffi.js';
import { type EpollLibc, epollLibc } from '../../socket/libc.js';
import type { Fault } from '../options.js';
import { type ConnEnd, faultReason, reasonIdle, reasonMaxConns, reasonUnread } from '../protocol.js';
import { selfUpstreamError } from '../self-upstream.js';
import type { TapConnectionLog } from '../tap-connection.js';
import {
  CLOSED_AT_REPLY_NOTE,
  PEEKED_NOTE,
  RESET_AT_REPLY_NOTE,
  type SideEnd,
  TRAFFIC_PREVIEW,
  type TrafficLog,
  heldOpenNote,
  shapedReplyNote,
} from '../tap-records.js';
import type { Post } from './conn-log.js';
import { PREVIEW, type RelayUpstream, type ThreadConfig } from './shared.js';
import { ThreadLog } from './thread-log.js';

/** What the relay's log renders (the factory ThreadConfig.logTo names returns it). */
export interface RelayRenderers {
  connection: (log: TapConnectionLog, out: LineWriter) => void;
  traffic: (log: TrafficLog, out: LineWriter) => void;
  /** The line that says `count` records were dropped because the reader was too slow. */
  dropped?: (count: number, out: LineWriter) => void;
}

// Side ends, by code (sideEnd[slot*2+side]).
const OPEN = 0;
const HALF = 1;
const CLOSED = 2;
const RESET = 3;
const ERROR = 4;
const NEVER = 5;
const HELD_OPEN = 6;
const SIDE_ENDS: readonly SideEnd[] = ['open', 'half-closed', 'closed', 'reset', 'error', 'never-connected', 'held-open'];
const FIRST: readonly (TapConnectionLog['first'] | undefined)[] = [undefined, 'client', 'upstream', 'tap'];
const F_CLIENT = 1;
const F_UPSTREAM = 2;
const F_TAP = 3;
const FROM = ['client', 'upstream'] as const;

const isReset = (errno: string) => errno === 'ECONNRESET' || errno === 'EPIPE';

export class RelayLog {
  private readonly tlog: ThreadLog;
  private readonly sys: EpollLibc;
  private readonly pollfd = new Uint8Array(8);
  private readonly pollView = new DataView(this.pollfd.buffer);
  private readonly ids: BigInt64Array;
  private readonly idBlock: number;
  private idNext = 0;
  private idEnd = 0;
  private readonly idleMs: number;
  private readonly maxConns: number;
  /** The ISO text of the last wall-clock millisecond a record was stamped with. */
  private atMs = -1;
  private atText = '';
  private cap = 0;
  private id = new Float64Array(0);
  private wall = new Float64Array(0);
  private start = new Float64Array(0);
  /** [slot*2+side]: bytes this side sent, its end (SIDE_ENDS), its first chunk's preview. */
  private bytes = new Float64Array(0);
  private sideEnd = new Uint8Array(0);
  private prevLen = new Int16Array(0);
  private prev = new Uint8Array(0);
  private chunksUp = new Float64Array(0);
  private first = new Uint8Array(0);
  private readonly end: (ConnEnd | undefined)[] = [];
  /** --fault on the relay step (never-close, silent), as the record names it. */
  private readonly fault: Fault | undefined;
  /** The note of an upstream chunk the fault swallows. */
  private readonly swallowed: string | undefined;
  private readonly reason: (string | undefined)[] = [];
  /** The two entries renderers are handed, reused (their keys in the net tap's order, for JSON). */
  private readonly t: TrafficLog = {
    id: 0,
    at: '',
    sinceUs: 0,
    from: 'client',
    kind: 'data',
    bytes: undefined,
    offset: undefined,
    data: undefined,
    code: undefined,
    errno: undefined,
    note: undefined,
  };
  private readonly c: TapConnectionLog = {
    id: 0,
    at: '',
    bytesIn: 0,
    bytesOut: 0,
    requests: 0,
    request: undefined,
    reply: undefined,
    durationUs: 0,
    end: 'closed',
    fault: undefined,
    reason: undefined,
    upstream: '',
    first: undefined,
    clientEnd: 'open',
    upstreamEnd: 'open',
  };

  constructor(
    cfg: ThreadConfig,
    ctl: Int32Array,
    post: Post,
    private readonly render: RelayRenderers,
    private readonly up: RelayUpstream,
    now: number,
  ) {
    this.sys = epollLibc();
    // ThreadLog's own renderers draw only the note of dropped lines: the relay renders through lineOut().
    this.tlog = new ThreadLog(cfg.logTo!.fd, { connection: () => {}, dropped: render.dropped }, ctl, cfg, (message) => post({ type: 'warning', message }), now);
    this.ids = new BigInt64Array(cfg.ids);
    // As ConnLog: ids in blocks when this thread is the only one, else one at a time (accept order).
    this.idBlock = cfg.threads === 1 ? 1024 : 1;
    this.idleMs = cfg.idleMs;
    this.maxConns = cfg.maxConns;
    this.c.upstream = up.display;
    this.fault = up.fault;
    this.swallowed = shapedReplyNote(up.fault, 0);
    this.c.fault = this.fault;
  }

  private nextId(): number {
    if (this.idNext === this.idEnd) {
      this.idNext = Number(Atomics.add(this.ids, 0, BigInt(this.idBlock)));
      this.idEnd = this.idNext + this.idBlock;
    }
    return this.idNext++;
  }

  private ensure(i: number): void {
    if (i < this.cap) return;
    let n = Math.max(256, this.cap);
    while (n <= i) n *= 2;
    const f64 = (a: Float64Array, k: number) => {
      const b = new Float64Array(n * k);
      b.set(a);
      return b;
    };
    this.id = f64(this.id, 1);
    this.wall = f64(this.wall, 1);
    this.start = f64(this.start, 1);
    this.chunksUp = f64(this.chunksUp, 1);
    this.bytes = f64(this.bytes, 2);
    const se = new Uint8Array(2 * n);
    se.set(this.sideEnd);
    this.sideEnd = se;
    const pl = new Int16Array(2 * n);
    pl.set(this.prevLen);
    this.prevLen = pl;
    const p = new Uint8Array(2 * n * PREVIEW);
    p.set(this.prev);
    this.prev = p;
    const fi = new Uint8Array(n);
    fi.set(this.first);
    this.first = fi;
    this.cap = n;
  }

  private stamp(): string {
    const ms = Date.now();
    if (ms !== this.atMs) {
      this.atMs = ms;
      this.atText = new Date(ms).toISOString();
    }
    return this.atText;
  }

  /** One traffic record, rendered now (or dropped and counted while the reader is behind); data: n bytes of buf. */
  private emit(i: number, from: TrafficLog['from'], kind: TrafficLog['kind'], note?: string, code?: string, errno?: string, buf?: Buffer, n = 0, offset = 0): void {
    const now = performance.now();
    const out = this.tlog.lineOut(now);
    if (out === null) return;
    const t = this.t;
    t.id = this.id[i];
    t.at = this.stamp();
    t.sinceUs = Math.round((now - this.start[i]) * 1000);
    t.from = from;
    t.kind = kind;
    t.bytes = buf === undefined ? undefined : n;
    t.offset = buf === undefined ? undefined : offset;
    // A view of the read buffer, rendered before it is reused, and let go after.
    t.data = buf === undefined ? undefined : buf.subarray(0, Math.min(n, TRAFFIC_PREVIEW));
    t.code = code;
    t.errno = errno;
    t.note = note;
    this.render.traffic(t, out);
    t.data = undefined;
  }

  private setEnd(i: number, e: ConnEnd, why: string | undefined, first: number): void {
    if (this.end[i] === undefined) {
      this.end[i] = e;
      this.reason[i] = why;
    }
    if (this.first[i] === 0) this.first[i] = first;
  }

  /** Whether a Unix peer closed for good rather than half-closed (POLLHUP; hup: the event said so already). */
  gone(fd: number, tcp: boolean, hup: boolean): boolean {
    if (tcp) return false;
    if (hup) return true;
    const v = this.pollView;
    v.setInt32(0, fd, true);
    v.setInt32(4, 0, true);
    if (this.sys.poll(this.pollfd, 1, 0) < 0) return false;
    return (v.getInt16(6, true) & POLLHUP) !== 0;
  }

  // ---- the relay's events

  accepted(i: number): void {
    this.ensure(i);
    this.id[i] = this.nextId();
    this.wall[i] = Date.now();
    this.start[i] = performance.now();
    this.chunksUp[i] = 0;
    this.first[i] = 0;
    this.end[i] = undefined;
    this.reason[i] = undefined;
    for (let k = 2 * i; k < 2 * i + 2; k++) {
      this.bytes[k] = 0;
      this.prevLen[k] = -1;
    }
    this.sideEnd[2 * i] = OPEN;
    this.sideEnd[2 * i + 1] = NEVER;
  }

  connected(i: number): void {
    this.sideEnd[2 * i + 1] = OPEN;
    this.emit(i, 'upstream', 'connect', this.up.display);
  }

  /** The upstream path is this tap's own socket file: the client is closed, not relayed to itself. */
  selfUpstream(i: number): void {
    const { code, message } = selfUpstreamError(this.up.display);
    this.emit(i, 'upstream', 'error', `${message}; closing the client`, code);
    this.setEnd(i, 'error', `upstream ${code}: ${message}`, F_UPSTREAM);
  }

  /** The upstream's connect failed with errno (or, errno 0, did not complete in time: backlog says which wait). */
  connectFailed(i: number, errno: number, backlog = false): void {
    const display = this.up.display;
    let code: string;
    let message: string;
    let name: string | undefined;
    if (errno !== 0) {
      name = errnoName(errno);
      const e = fromConnectErrno(Object.assign(new Error(name), { code: name }), display);
      code = e.code;
      message = e.message;
    } else if (backlog) {
      // openConnection's words, as the net tap logs them.
      name = 'EAGAIN';
      ({ code, message } = backlogFullError(display, this.up.connectMs));
    } else {
      ({ code, message } = connectTimeoutError(display, this.up.connectMs));
    }
    this.emit(i, 'upstream', 'error', `${message}; closing the client`, code, name);
    this.setEnd(i, 'error', `upstream ${code}: ${message}`, F_UPSTREAM);
  }

  /** n bytes side s sent (in buf); `dropped`: the other side takes nothing more. */
  data(i: number, s: number, buf: Buffer, n: number, dropped: boolean): void {
    const k = 2 * i + s;
    if (s === 1 && this.up.fault === 'close-without-reply') this.closedAtReply(i);
    const offset = this.bytes[k];
    this.bytes[k] = offset + n;
    if (s === 0) this.chunksUp[i]++;
    if (this.prevLen[k] < 0) {
      const len = Math.min(n, PREVIEW);
      this.prev.set(buf.subarray(0, len), k * PREVIEW);
      this.prevLen[k] = len;
    }
    const note =
      s === 1 && this.swallowed !== undefined
        ? this.swallowed
        : s === 0 && this.up.fault === 'reset'
          ? PEEKED_NOTE
          : s === 1 && this.up.delayMs > 0
            ? `delayed ${this.up.delayMs}ms`
            : dropped
              ? `dropped: the ${s === 0 ? 'upstream' : 'client'} takes nothing more`
              : undefined;
    this.emit(i, FROM[s], 'data', note, undefined, undefined, buf, n, offset);
  }

  /** Side s ended (its EOF): for good (gone) or half-closed; relayed to the other side unless it takes nothing more. */
  ended(i: number, s: number, gone: boolean, relayed: boolean): void {
    this.sideEnd[2 * i + s] = gone ? CLOSED : HALF;
    if (s === 1) this.setEnd(i, 'closed', undefined, F_UPSTREAM);
    else if (this.first[i] === 0) this.first[i] = F_CLIENT;
    const note =
      s === 1 && this.up.fault === 'close-without-reply' && this.bytes[2 * i + 1] > 0
        ? CLOSED_AT_REPLY_NOTE
        : relayed
          ? `relayed to the ${s === 0 ? 'upstream' : 'client'} as a half-close`
          : undefined;
    this.emit(i, FROM[s], gone ? 'close' : 'half-close', note);
  }

  /** A Unix upstream closed with all it sent relayed: the client is closed at once (relay-pump.ts's onUpstreamGone). */
  upstreamGone(i: number): void {
    this.sideEnd[2 * i + 1] = CLOSED;
    this.setEnd(i, 'closed', undefined, F_UPSTREAM);
    this.emit(i, 'upstream', 'close', this.up.fault === 'close-without-reply' && this.bytes[2 * i + 1] > 0 ? CLOSED_AT_REPLY_NOTE : 'relayed to the client as a close');
  }

  /** close-without-reply: the end it gives the client is the connection's (as the net tap's, it overrides a clean close). */
  private closedAtReply(i: number): void {
    if (this.end[i] === undefined || this.end[i] === 'closed') {
      this.end[i] = 'closed';
      this.reason[i] = faultReason('close-without-reply');
    }
    if (this.first[i] === 0) this.first[i] = F_TAP;
  }

  /** --fault reset: the upstream's reply came; the client is reset instead (closed with its request unread). */
  resetAtReply(i: number): void {
    this.emit(i, 'tap', 'reset', RESET_AT_REPLY_NOTE);
    if (this.end[i] === undefined || this.end[i] === 'closed') {
      this.end[i] = 'reset';
      this.reason[i] = 'fault reset';
    }
    if (this.first[i] === 0) this.first[i] = F_TAP;
    const c = this.sideEnd[2 * i];
    if (c === OPEN || c === HALF) this.sideEnd[2 * i] = RESET;
  }

  /** The upstream ended (gone: for good) and a fault holds the client open: not relayed to it. */
  held(i: number, gone: boolean): void {
    this.sideEnd[2 * i + 1] = gone ? CLOSED : HALF;
    this.setEnd(i, 'closed', undefined, F_UPSTREAM);
    this.emit(i, 'upstream', gone ? 'close' : 'half-close', heldOpenNote(this.fault));
    // The fault's end overrides a clean close: it is what happened to the client (as the net tap's).
    if (this.end[i] === 'closed') {
      this.end[i] = 'left-open';
      this.reason[i] = `fault ${this.fault}`;
    }
    const c = this.sideEnd[2 * i];
    if (c === OPEN || c === HALF) this.sideEnd[2 * i] = HELD_OPEN;
  }

  /** Side s was reset (or failed) with errno: the other side is reset too. */
  reset(i: number, s: number, errno: number): void {
    const name = errnoName(errno);
    const reset = isReset(name);
    const k = 2 * i + s;
    if (this.sideEnd[k] === OPEN || this.sideEnd[k] === HALF) this.sideEnd[k] = reset ? RESET : ERROR;
    const other = this.sideEnd[2 * i + 1 - s];
    const note = other === OPEN || other === HALF ? `resetting the ${s === 0 ? 'upstream' : 'client'}` : undefined;
    this.emit(i, FROM[s], reset ? 'reset' : 'error', note, codeOfErrno(name), name);
    if (s === 0) this.setEnd(i, reset ? 'client-reset' : 'error', name, F_CLIENT);
    else this.setEnd(i, reset ? 'reset' : 'error', `upstream ${name}`, F_UPSTREAM);
  }

  /** Sending to side o failed with EPIPE: it closed before taking all the other side's bytes. */
  sendClosed(i: number, o: number, errno: number): void {
    const k = 2 * i + o;
    if (this.sideEnd[k] === OPEN || this.sideEnd[k] === HALF) this.sideEnd[k] = CLOSED;
    this.emit(i, FROM[o], 'close', `closed before taking all of the ${o === 0 ? "upstream's" : "client's"} bytes`, undefined, errnoName(errno));
  }

  /** --idle-timeout; unread: replies wait for a client that does not read them. */
  idle(i: number, unread: boolean): void {
    this.setEnd(i, 'idle-timeout', unread ? reasonUnread(this.idleMs) : reasonIdle(this.idleMs), F_TAP);
  }

  /** Past --grace: the tap ends the connection. */
  shutdown(i: number): void {
    this.setEnd(i, 'shutdown', undefined, F_TAP);
  }

  /** The connection is closed (both descriptors): the closes not yet said, then its record. */
  finished(i: number): void {
    for (let s = 0; s < 2; s++) {
      const k = 2 * i + s;
      const e = this.sideEnd[k];
      if (e === OPEN || e === HALF || e === HELD_OPEN) {
        // Both descriptors are closed here: a side that had not ended was closed by the tap.
        this.emit(i, FROM[s], 'close', 'closed by the tap');
        if (e !== HELD_OPEN) this.sideEnd[k] = CLOSED;
      }
    }
    if (this.first[i] === 0) this.first[i] = F_CLIENT;
    const now = performance.now();
    const out = this.tlog.lineOut(now);
    if (out === null) return;
    const c = this.c;
    c.id = this.id[i];
    c.at = new Date(this.wall[i]).toISOString();
    c.bytesIn = this.bytes[2 * i];
    c.bytesOut = this.bytes[2 * i + 1];
    c.requests = this.chunksUp[i];
    c.request = this.preview(2 * i);
    c.reply = this.preview(2 * i + 1);
    c.durationUs = Math.round((now - this.start[i]) * 1000);
    c.end = this.end[i] ?? 'client-closed';
    c.reason = this.reason[i];
    c.first = FIRST[this.first[i]];
    c.clientEnd = SIDE_ENDS[this.sideEnd[2 * i]];
    c.upstreamEnd = SIDE_ENDS[this.sideEnd[2 * i + 1]];
    this.render.connection(c, out);
  }

  private preview(k: number): string | undefined {
    const len = this.prevLen[k];
    if (len < 0) return undefined;
    return decodeKeepingBytes(Buffer.from(this.prev.buffer, this.prev.byteOffset, this.prev.byteLength), k * PREVIEW, k * PREVIEW + len);
  }

  /** A connection over --max-conns, closed at once without a slot. */
  refused(): void {
    const out = this.tlog.lineOut(performance.now());
    const id = this.nextId();
    if (out === null) return;
    const c = this.c;
    c.id = id;
    c.at = this.stamp();
    c.bytesIn = 0;
    c.bytesOut = 0;
    c.requests = 0;
    c.request = undefined;
    c.reply = undefined;
    c.durationUs = 0;
    c.end = 'over-max-conns';
    c.reason = reasonMaxConns(this.maxConns);
    c.first = 'tap';
    c.clientEnd = 'closed';
    c.upstreamEnd = 'never-connected';
    this.render.connection(c, out);
  }

  /** When the loop must next turn for the log's sake (Infinity: nothing waits). */
  dueAt(): number {
    return this.tlog.dueAt();
  }

  /** End of a loop turn: write what is due. */
  turn(now: number): void {
    this.tlog.write(now);
  }

  /** The thread is ending: everything out (bounded). */
  finish(now: number): void {
    this.tlog.finish(now);
  }
}
