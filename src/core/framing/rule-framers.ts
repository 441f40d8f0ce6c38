/**
 * Framers for the plain end rules (line, delim:, bytes:, eof, idle:) and the
 * length prefix (len:), one object per connection. Bench keeps its typed-array
 * form of the plain rules (slot-framer.ts); these serve send and probe, and
 * bench for len:.
 */
import type { EndRule } from './end-rule.js';
import { type Framer, NEED_MORE } from './framer.js';

abstract class PlainFramer implements Framer {
  readonly byBytes: boolean = true;
  readonly status: number = 0;
  readonly closing: boolean = false;
  readonly failed: boolean = false;
  abstract push(buf: Uint8Array, from: number, to: number): number;
  reset(): void {}
  endsAtClose(): boolean {
    return false;
  }
  describe(): string {
    return '';
  }
}

/** eof and idle: ended by the close or by quiet, never by bytes. */
export class EventFramer extends PlainFramer {
  override readonly byBytes = false;
  push(): number {
    return NEED_MORE;
  }
  override endsAtClose(): boolean {
    return true;
  }
}

/** A frame ends at a delimiter (line: "\n"), found across chunks with a KMP state. */
export class DelimFramer extends PlainFramer {
  private readonly delim: Uint8Array;
  private readonly fail: Int32Array;
  private matched = 0;

  constructor(delim: Uint8Array) {
    super();
    this.delim = delim;
    this.fail = kmpTable(delim);
  }

  push(buf: Uint8Array, from: number, to: number): number {
    const d = this.delim;
    if (d.length === 1) {
      const b = d[0];
      // Short ranges: a plain loop beats a call into indexOf; long ones (a 50 MB line): indexOf.
      if (to - from <= 64) {
        for (let i = from; i < to; i++) if (buf[i] === b) return i + 1;
        return NEED_MORE;
      }
      const i = buf.indexOf(b, from);
      return i >= 0 && i < to ? i + 1 : NEED_MORE;
    }
    const m = d.length;
    let j = this.matched;
    for (let i = from; i < to; i++) {
      const c = buf[i];
      while (j > 0 && c !== d[j]) j = this.fail[j - 1];
      if (c === d[j] && ++j === m) {
        this.matched = 0;
        return i + 1;
      }
    }
    this.matched = j;
    return NEED_MORE;
  }

  override reset(): void {
    this.matched = 0;
  }

}

/**
 * message: a frame is one message. The reader pushes each message of a
 * seqpacket or dgram socket by itself, so the frame ends where the push does
 * (a stream has no boundaries: the client refuses the rule there).
 */
export class MessageFramer extends PlainFramer {
  push(_buf: Uint8Array, _from: number, to: number): number {
    return to;
  }
}

/** A frame is exactly n bytes. */
export class BytesFramer extends PlainFramer {
  private got = 0;
  constructor(private readonly n: number) {
    super();
  }
  push(_buf: Uint8Array, from: number, to: number): number {
    const need = this.n - this.got;
    if (to - from >= need) {
      this.got = 0;
      return from + need;
    }
    this.got += to - from;
    return NEED_MORE;
  }
  override reset(): void {
    this.got = 0;
  }
}

/**
 * len:SIZE[be|le][+OFFSET]: a SIZE-byte unsigned length, then OFFSET more header
 * bytes, then that many bytes of body; the frame is all three.
 */
export class LenFramer extends PlainFramer {
  private readonly header: number;
  private pos = 0; // bytes of the frame seen
  private len = 0; // the length field, once read
  private left = -1; // body bytes still to come; -1: the header is not complete

  constructor(
    private readonly size: number,
    private readonly le: boolean,
    offset: number,
  ) {
    super();
    this.header = size + offset;
  }

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (this.left < 0) {
      if (i >= to) return NEED_MORE;
      const p = this.pos;
      if (p < this.size) {
        const b = buf[i];
        // Multiplication, not <<: a 4-byte length may exceed 2^31.
        this.len = this.le ? this.len + b * 2 ** (8 * p) : this.len * 256 + b;
      }
      this.pos++;
      i++;
      if (this.pos === this.header) this.left = this.len;
    }
    const avail = to - i;
    if (avail >= this.left) {
      const end = i + this.left;
      this.pos = 0;
      this.len = 0;
      this.left = -1;
      return end;
    }
    this.left -= avail;
    this.pos += avail;
    return NEED_MORE;
  }

  override reset(): void {
    this.pos = 0;
    this.len = 0;
    this.left = -1;
  }

  override describe(): string {
    if (this.left < 0) return `${this.pos} of the ${this.header}-byte header`;
    const body = this.pos - this.header;
    return `${body} of the ${this.len} body bytes the length prefix announced`;
  }
}

/** The KMP failure table of a pattern: a delimiter like "aab" is found in "aaab" across chunks. */
export function kmpTable(d: Uint8Array): Int32Array {
  const fail = new Int32Array(d.length);
  for (let i = 1, k = 0; i < d.length; i++) {
    while (k > 0 && d[i] !== d[k]) k = fail[k - 1];
    if (d[i] === d[k]) k++;
    fail[i] = k;
  }
  return fail;
}

/** The framer of a plain rule, or null for a protocol rule (index.ts makes those). */
export function plainFramer(rule: EndRule): Framer | null {
  switch (rule.kind) {
    case 'eof':
    case 'idle':
      return new EventFramer();
    case 'line':
      return new DelimFramer(Uint8Array.of(0x0a));
    case 'message':
      return new MessageFramer();
    case 'delim':
      return new DelimFramer(Uint8Array.from(rule.delim));
    case 'bytes':
      return new BytesFramer(rule.n);
    case 'len':
      return new LenFramer(rule.size, rule.le, rule.offset);
    default:
      return null;
  }
}

