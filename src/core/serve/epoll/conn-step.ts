/**
 * The per-connection protocol step of an engine thread: what the bytes just
 * read into the thread's read buffer mean (framing by --read, or lines with
 * --keep-alive), which reply they get, and what the client's end means. It
 * decides; the thread (ConnIO) sends, closes and arms. The rules are
 * serve's, from ../protocol.ts, as the net engine applies them.
 */
import type { ReadMode } from '../options.js';
import { currentReply, oneshotRequestEnd, requestAtEnd } from '../protocol.js';
import type { ConnLog } from './conn-log.js';
import { ANSWERED, CLOSE_AFTER_FLUSH, type ConnTable, IN_PAUSED, REPLIED } from './conn-table.js';
import { copyBytes } from './record-batch.js';
import { END_CODE, REASON_MAX_BYTES, REASON_NO_REQUEST, type ThreadConfig } from './shared.js';

const NL = 0x0a;

/** What the step asks of the thread. */
export interface ConnIO {
  /** Send `len` bytes of `src` (after what is queued); false when the connection was closed. */
  sendOut(i: number, src: Uint8Array, len: number): boolean;
  /** The one-shot reply is out (or queued): end our side. */
  afterOneshotReply(i: number): void;
  closeConn(i: number): void;
  arm(i: number): void;
}

/** The loop's clocks and the reply they make, read once per epoll_wait. */
export class ThreadClock {
  now = performance.now();
  wall = Date.now();
  reply: Buffer;

  constructor(private readonly fixedReply: Buffer | null) {
    this.reply = fixedReply ?? currentReply(this.wall);
  }

  tick(): void {
    this.now = performance.now();
    this.wall = Date.now();
    if (this.fixedReply === null) this.reply = currentReply(this.wall);
  }
}

export class ConnStep {
  private readonly keepAlive: boolean;
  private readonly readMode: ReadMode;
  private readonly echo: boolean;
  private readonly maxBytes: number;
  /** The replies to the lines of one chunk, sent in one send. */
  private wbuf: Buffer;
  private wlen = 0;

  /**
   * @param rbuf the thread's read buffer: a chunk is rbuf[0, n), with a newline at rbuf[n] (a sentinel: a search never runs past the data)
   */
  constructor(
    cfg: ThreadConfig,
    private readonly t: ConnTable,
    private readonly log: ConnLog,
    private readonly clock: ThreadClock,
    private readonly rbuf: Buffer,
    private readonly io: ConnIO,
  ) {
    this.keepAlive = cfg.keepAlive;
    this.readMode = cfg.read;
    this.echo = cfg.echo;
    this.maxBytes = cfg.maxBytes;
    this.wbuf = Buffer.allocUnsafe(rbuf.length);
  }

  /** A one-shot request: reply, then end our side. `ended`: the client has ended already. */
  private answerOneshot(i: number, req: Uint8Array, start: number, end: number, ended: boolean): void {
    const t = this.t;
    t.phase[i] = ANSWERED;
    t.requests[i]++;
    t.flags[i] |= REPLIED;
    if (ended) t.flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
    const echo = this.echo;
    const reply = this.clock.reply;
    const body = echo ? req : reply;
    const bStart = echo ? start : 0;
    const bLen = echo ? end - start : reply.length;
    t.bytesOut[i] += bLen;
    if (this.log.on) {
      t.notePreview(t.reqPrev, t.reqLen, i, req, start, end);
      if (echo) t.notePreview(t.repPrev, t.repLen, i, req, start, end);
      else t.repRef[i] = reply;
    }
    if (!this.io.sendOut(i, bStart === 0 ? body : body.subarray(bStart), bLen)) return;
    this.io.afterOneshotReply(i);
  }

  /** Keep-alive: queue the reply to one line (sent after the whole chunk, in one send). */
  private queueLine(i: number, src: Uint8Array, start: number, end: number): void {
    const t = this.t;
    const seq = ++t.requests[i];
    const echo = this.echo;
    const reply = this.clock.reply;
    const body = echo ? src : reply;
    const bStart = echo ? start : 0;
    const bLen = echo ? end - start : reply.length;
    if (this.log.on) this.log.request(this.clock.now, this.clock.wall, t.idOf[i], seq, src, start, end, body, bStart, bLen);
    const wlen = this.wlen;
    if (wlen + bLen > this.wbuf.length) {
      const b = Buffer.allocUnsafe(Math.max(this.wbuf.length * 2, wlen + bLen));
      this.wbuf.copy(b, 0, 0, wlen);
      this.wbuf = b;
    }
    copyBytes(body, bStart, this.wbuf, wlen, bLen);
    this.wlen = wlen + bLen;
    t.bytesOut[i] += bLen;
    t.flags[i] |= REPLIED;
  }

  /** Whether the partial input is over --max-bytes (then the connection is closed). */
  private overMaxBytes(i: number): boolean {
    const t = this.t;
    if (t.pendInLen[i] <= this.maxBytes) return false;
    t.setEnd(i, END_CODE['max-bytes'], REASON_MAX_BYTES);
    this.io.closeConn(i);
    return true;
  }

  /** rbuf[0, n) was read from connection i, which is reading. */
  onData(i: number, n: number): void {
    const t = this.t;
    const rbuf = this.rbuf;
    if (!this.keepAlive) {
      const end = oneshotRequestEnd(this.readMode, rbuf, n);
      if (end >= 0) {
        if (t.pendIn[i] === null) return this.answerOneshot(i, rbuf, 0, end, false);
        const req = t.takePending(i, Buffer.from(rbuf.subarray(0, end)));
        return this.answerOneshot(i, req, 0, req.length, false);
      }
      t.keepPending(i, rbuf, 0, n);
      this.overMaxBytes(i);
      return;
    }
    // Keep-alive: a reply per line; the replies to the lines of one chunk go out in one send.
    let pos = 0;
    this.wlen = 0;
    if (t.pendIn[i] !== null) {
      const nl = rbuf.indexOf(NL);
      if (nl < 0 || nl >= n) {
        t.keepPending(i, rbuf, 0, n);
        this.overMaxBytes(i);
        return;
      }
      const line = t.takePending(i, Buffer.from(rbuf.subarray(0, nl + 1)));
      this.queueLine(i, line, 0, line.length);
      pos = nl + 1;
    }
    while (pos < n) {
      const nl = rbuf.indexOf(NL, pos);
      if (nl < 0 || nl >= n) break;
      this.queueLine(i, rbuf, pos, nl + 1);
      pos = nl + 1;
    }
    if (pos < n) t.keepPending(i, rbuf, pos, n);
    if (!this.io.sendOut(i, this.wbuf, this.wlen)) return;
    this.overMaxBytes(i);
  }

  /** Connection i's client has ended its side. */
  onEof(i: number): void {
    const t = this.t;
    const io = this.io;
    if (t.phase[i] === ANSWERED) {
      if (t.pendOut[i] === null) return io.closeConn(i);
      t.flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
      return io.arm(i);
    }
    // The client ended while we were reading: eof framing's request is complete,
    // and keep-alive's unfinished last line still gets its reply.
    if (t.pendIn[i] !== null && requestAtEnd(this.readMode, this.keepAlive)) {
      const req = t.takePending(i);
      if (!this.keepAlive) return this.answerOneshot(i, req, 0, req.length, true);
      this.wlen = 0;
      this.queueLine(i, req, 0, req.length);
      t.phase[i] = ANSWERED;
      t.flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
      if (!io.sendOut(i, this.wbuf, this.wlen)) return;
      if (t.pendOut[i] === null) return io.closeConn(i);
      return io.arm(i);
    }
    if (t.requests[i] === 0) t.setEnd(i, END_CODE['client-closed'], REASON_NO_REQUEST);
    t.phase[i] = ANSWERED;
    if (t.pendOut[i] === null) return io.closeConn(i);
    t.flags[i] |= CLOSE_AFTER_FLUSH | IN_PAUSED;
    io.arm(i);
  }
}
