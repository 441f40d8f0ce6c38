/**
 * The reply shaper: serve's faults and --delay, written once. An engine hands
 * it each reply (a chunk of a stream, or a whole message) and carries out the
 * action it returns: send these bytes now, send them at a time, swallow them,
 * end the client's side instead, reset the client instead; at the upstream's
 * end, relay the end or hold the client open. The engines (the epoll relay,
 * the seqpacket and dgram taps) only move bytes.
 *
 * One state machine per connection slot, as framing/slot-framer.ts frames:
 * the only state that outlives a reply is no-newline's held run of line-end
 * bytes on a stream (CR and LF, at most NL_MAX a slot, in typed arrays grown
 * with the slots), so the hot path allocates nothing.
 */
import { type Fault, SERVE_DEFAULTS } from './options.js';

/** reply(): send data[0, len) now. */
export const SEND = 0;
/** reply(): send data[0, len) at `at` (--delay, --fault slow); copy it: data may be reused. */
export const DELAY = 1;
/** reply(): drop it (--fault silent). */
export const SWALLOW = 2;
/** reply(): end the client's side instead of the reply (--fault close-without-reply). */
export const CLOSE = 3;
/** reply(): reset the client instead of the reply (--fault reset). */
export const RESET = 4;

/** upstreamEnd(): relay the end to the client. */
export const RELAY_END = 0;
/** upstreamEnd(): keep the client open, not told (--fault never-close, silent). */
export const HOLD_OPEN = 1;

/** no-newline on a stream: line-end bytes held back per slot; a longer run sends its oldest. */
export const NL_MAX = 64;

/** What shapes the replies: the fault, and --delay (default 1s with slow). */
export interface ShapeSpec {
  fault?: Fault;
  delay?: number;
}

const EMPTY = new Uint8Array(0);
const isLineEnd = (b: number) => b === 0x0a || b === 0x0d;

export class ReplyShaper {
  readonly fault: Fault | undefined;
  readonly delayMs: number;
  /** The bytes of the last SEND or DELAY: data[0, len). */
  data: Uint8Array = EMPTY;
  len = 0;
  /** DELAY: when to send (the caller's clock). */
  at = 0;
  /** Line-end bytes the last reply lost to no-newline (0: none), for the records. */
  stripped = 0;
  /** Bytes a stream engine leaves free in its read for the held run (reply() may return up to n + headroom). */
  readonly headroom: number;
  private readonly onReply: number;
  private nlLen = new Uint8Array(0);
  private nlBytes = new Uint8Array(0);
  private nlBuf: Buffer = Buffer.alloc(0);

  constructor(spec: ShapeSpec, slots = 0) {
    const fault = spec.fault;
    this.fault = fault;
    this.delayMs = spec.delay ?? (fault === 'slow' ? SERVE_DEFAULTS.slowDelay : 0);
    this.onReply = fault === 'silent' ? SWALLOW : fault === 'close-without-reply' ? CLOSE : fault === 'reset' ? RESET : this.delayMs > 0 ? DELAY : SEND;
    this.headroom = fault === 'no-newline' ? NL_MAX : 0;
    this.grow(slots);
  }

  /** Room for `slots` slots (kept state copied). */
  grow(slots: number): void {
    if (this.fault !== 'no-newline' || slots <= this.nlLen.length) return;
    const len = new Uint8Array(slots);
    len.set(this.nlLen);
    const bytes = new Uint8Array(slots * NL_MAX);
    bytes.set(this.nlBytes);
    this.nlLen = len;
    this.nlBytes = bytes;
  }

  /** The client is held open after the upstream's end, whatever it replied. */
  get holdsOpen(): boolean {
    return this.fault === 'never-close' || this.fault === 'silent';
  }

  /** The client is reset at the reply: a stream engine leaves the request unread (a Unix peer sees ECONNRESET only so). */
  get resetsAtReply(): boolean {
    return this.onReply === RESET;
  }

  /**
   * A reply in buf[0, n) from the upstream on `slot`: what to do with it. A
   * message (whole: seqpacket, dgram) loses its trailing line ends under
   * no-newline; a stream's are held back and sent only if more bytes follow
   * (never at the upstream's end). For SEND and DELAY the bytes are data[0, len).
   */
  reply(slot: number, buf: Uint8Array, n: number, now: number, message: boolean): number {
    const act = this.onReply;
    this.stripped = 0;
    if (act !== SEND && act !== DELAY) return act;
    this.data = buf;
    this.len = n;
    if (this.headroom > 0) {
      if (message) {
        let cut = n;
        while (cut > 0 && isLineEnd(buf[cut - 1])) cut--;
        this.stripped = n - cut;
        this.len = cut;
      } else this.holdLineEnds(slot, buf, n);
    }
    if (act === DELAY) this.at = now + this.delayMs;
    return act;
  }

  /** What to do at the upstream's end. */
  upstreamEnd(): number {
    return this.holdsOpen ? HOLD_OPEN : RELAY_END;
  }

  /** The slot is free: its held run goes (never sent: the upstream's end came). */
  release(slot: number): void {
    if (slot < this.nlLen.length) this.nlLen[slot] = 0;
  }

  /** no-newline on a stream: data = the run held before this chunk, then the chunk, less its own trailing run (held in turn). */
  private holdLineEnds(slot: number, buf: Uint8Array, n: number): void {
    if (slot >= this.nlLen.length) this.grow(Math.max(256, 2 * slot + 2));
    const held = this.nlLen[slot];
    const base = slot * NL_MAX;
    let cut = n;
    while (cut > 0 && isLineEnd(buf[cut - 1])) cut--;
    const total = held + n;
    if (this.nlBuf.length < total) this.nlBuf = Buffer.allocUnsafe(Math.max(total, 64 * 1024 + NL_MAX));
    const out = this.nlBuf;
    out.set(this.nlBytes.subarray(base, base + held), 0);
    out.set(buf.subarray(0, n), held);
    const run = cut === 0 ? total : n - cut;
    const keep = Math.min(run, NL_MAX);
    this.nlBytes.set(out.subarray(total - keep, total), base);
    this.nlLen[slot] = keep;
    this.data = out;
    this.len = total - keep;
    this.stripped = keep;
  }
}
