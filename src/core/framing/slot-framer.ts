/**
 * Framing for bench's many slots (connections) at once, without buffering
 * replies: a SlotFramer is the Framer API (framer.ts) indexed by slot.
 * createSlotFramer() picks RuleSlots for the plain end rules (each slot one
 * integer in a typed array: the fast path of line/delim/bytes) and PerSlot
 * (one Framer object per slot, made up front) for len: and the protocols.
 */
import type { EndRule } from './end-rule.js';
import { type ContentSink, type Framer, NEED_MORE } from './framer.js';
import { kmpTable } from './rule-framers.js';

/** The Framer API over slots: push/reset and the facts of the frame a slot just ended. */
export interface SlotFramer {
  readonly byBytes: boolean;
  push(slot: number, buf: Uint8Array, from: number, to: number): number;
  reset(slot: number): void;
  endsAtClose(slot: number): boolean;
  describe(slot: number): string;
  status(slot: number): number;
  closing(slot: number): boolean;
  failed(slot: number): boolean;
  /** Give slot i's application bytes to sink as they pass, when the protocol frames them (FastCGI): true then; false when the bytes pushed are the content. */
  contentTo(slot: number, sink: ContentSink): boolean;
}

/** One Framer per slot, made up front; nothing is allocated per reply. */
export class PerSlot implements SlotFramer {
  readonly byBytes: boolean;
  private readonly f: Framer[];
  constructor(make: () => Framer, slots: number) {
    this.f = Array.from({ length: slots }, make);
    this.byBytes = slots > 0 ? this.f[0].byBytes : true;
  }
  push(slot: number, buf: Uint8Array, from: number, to: number): number {
    return from >= to ? NEED_MORE : this.f[slot].push(buf, from, to);
  }
  reset(slot: number): void {
    this.f[slot].reset();
  }
  endsAtClose(slot: number): boolean {
    return this.f[slot].endsAtClose();
  }
  describe(slot: number): string {
    return this.f[slot].describe();
  }
  status(slot: number): number {
    return this.f[slot].status;
  }
  closing(slot: number): boolean {
    return this.f[slot].closing;
  }
  failed(slot: number): boolean {
    return this.f[slot].failed;
  }
  contentTo(slot: number, sink: ContentSink): boolean {
    const f = this.f[slot];
    if (!('sink' in f)) return false;
    f.sink = sink;
    return true;
  }
}

/**
 * The plain end rules for many slots: each connection keeps one integer of state
 * (bytes of the delimiter matched, or bytes of the reply counted). It finds the
 * same reply ends as findReplyEnd() does on the whole accumulated reply (the
 * tests hold it to that), but works chunk by chunk, in place, and allocates nothing.
 */
export class RuleSlots implements SlotFramer {
  private readonly state: Int32Array;
  private readonly kind: EndRule['kind'];
  private readonly delim: Uint8Array;
  private readonly byte: number;
  private readonly fail: Int32Array;
  private readonly n: number;

  constructor(rule: EndRule, slots: number) {
    this.state = new Int32Array(slots);
    this.kind = rule.kind;
    this.delim = rule.kind === 'line' ? Uint8Array.of(0x0a) : rule.kind === 'delim' ? Uint8Array.from(rule.delim) : new Uint8Array(0);
    this.byte = this.delim.length === 1 ? this.delim[0] : -1;
    this.n = rule.kind === 'bytes' ? rule.n : 0;
    // KMP failure function: a delimiter like "aab" must be found in "aaab" across chunk boundaries.
    this.fail = kmpTable(this.delim);
  }

  /** Whether replies end by bytes seen (line, delim, bytes) rather than by events (eof, idle). */
  get byBytes(): boolean {
    return this.kind === 'line' || this.kind === 'delim' || this.kind === 'bytes';
  }

  /** Forget a connection's partial reply (a new connection in that slot). */
  reset(slot: number): void {
    this.state[slot] = 0;
  }

  /**
   * Feed `buf[from, to)` of one connection's stream. Returns the index just past
   * the end of the first reply completed in that range, or -1 when the whole
   * range belongs to a reply still open. Call again from the returned index for
   * the next reply (pipelining). For a one-byte delimiter, a caller that owns the
   * buffer may store that byte at buf[to] as a sentinel so the search stops there.
   */
  push(slot: number, buf: Uint8Array, from: number, to: number): number {
    if (from >= to) return -1;
    if (this.byte >= 0) {
      const b = this.byte;
      // Replies are mostly short: a plain loop beats a call into Buffer#indexOf's C++ for them.
      if (to - from <= 64) {
        for (let i = from; i < to; i++) if (buf[i] === b) return i + 1;
        return -1;
      }
      const i = buf.indexOf(b, from);
      return i >= 0 && i < to ? i + 1 : -1;
    }
    if (this.kind === 'bytes') {
      const need = this.n - this.state[slot];
      if (to - from >= need) {
        this.state[slot] = 0;
        return from + need;
      }
      this.state[slot] += to - from;
      return -1;
    }
    if (this.kind === 'delim') {
      const d = this.delim;
      const m = d.length;
      let j = this.state[slot];
      for (let i = from; i < to; i++) {
        const c = buf[i];
        while (j > 0 && c !== d[j]) j = this.fail[j - 1];
        if (c === d[j] && ++j === m) {
          this.state[slot] = 0;
          return i + 1;
        }
      }
      this.state[slot] = j;
      return -1;
    }
    return -1; // eof, idle: ended by the connection closing or going quiet
  }

  endsAtClose(): boolean {
    return !this.byBytes;
  }

  describe(slot: number): string {
    return this.kind === 'bytes' ? `${this.state[slot]} of ${this.n} bytes` : '';
  }

  status(): number {
    return 0;
  }

  closing(): boolean {
    return false;
  }

  failed(): boolean {
    return false;
  }
  contentTo(): boolean {
    return false; // the bytes are the content
  }
}

/**
 * Checks that each reply contains `expect` (as `udsctl probe --expect` does),
 * chunk by chunk: per connection, how much of `expect` the reply has matched so
 * far (a KMP state, so a match across chunk boundaries is found).
 */
export class ContainsCheck {
  private readonly pos: Int32Array;
  private readonly fail: Int32Array;
  constructor(
    private readonly expect: Uint8Array,
    slots: number,
  ) {
    this.pos = new Int32Array(slots);
    this.fail = new Int32Array(expect.length);
    for (let i = 1, k = 0; i < expect.length; i++) {
      while (k > 0 && expect[i] !== expect[k]) k = this.fail[k - 1];
      if (expect[i] === expect[k]) k++;
      this.fail[i] = k;
    }
  }

  /** Feed the part `buf[from, to)` of the current reply. */
  feed(slot: number, buf: Uint8Array, from: number, to: number): void {
    const e = this.expect;
    const m = e.length;
    let j = this.pos[slot];
    if (j === m) return;
    for (let i = from; i < to; i++) {
      const c = buf[i];
      while (j > 0 && c !== e[j]) j = this.fail[j - 1];
      if (c === e[j] && ++j === m) break;
    }
    this.pos[slot] = j;
  }

  /** Whether the current reply contains it so far. */
  matched(slot: number): boolean {
    return this.pos[slot] === this.expect.length;
  }

  /** Whether the reply just ended contained it; resets for the next reply. */
  end(slot: number): boolean {
    const ok = this.pos[slot] === this.expect.length;
    this.pos[slot] = 0;
    return ok;
  }
}
