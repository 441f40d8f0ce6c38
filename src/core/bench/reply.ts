/**
 * Reading replies for the load loop, per slot and in place: where a reply ends
 * (the framer), whether it held --expect (ContainsCheck), how many bytes it had,
 * and its first bytes for the message of the first MISMATCH. Nothing is
 * buffered or allocated per reply.
 */
import type { EndRule } from '../framing/end-rule.js';
import { decodeKeepingBytes } from '../escape.js';
import { FRAME_ERROR, type SlotFramer, createSlotFramer } from '../framing/index.js';
import { ContainsCheck, RuleSlots } from '../framing/slot-framer.js';

const SAMPLE = 80;

/** How a reply that ended went (finish()). */
export const REPLY_OK = 0;
export const REPLY_MISMATCH = 1;
export const REPLY_EMPTY = 2;
/** The protocol's error reply (RESP -ERR), or an HTTP status outside 2xx/3xx. */
export const REPLY_FAILED = 3;

/** feed(): the bytes broke the protocol's framing (the connection is beyond repair). */
export { FRAME_ERROR };

export class ReplyReader {
  /** Bytes of the reply being read, per slot. */
  readonly got: Float64Array;
  readonly framer: SlotFramer;
  /** The framer reads facts (status, closing, error reply): a protocol's, not a plain rule's (those skip the calls). */
  readonly facts: boolean;
  private readonly check: ContainsCheck | null;
  private readonly sampleBuf: Buffer | null;
  private readonly sampleLen: Int32Array;
  /** The framer gives the application's bytes (FastCGI's STDOUT) to the check itself: feed() does not. */
  private readonly viaFramer: boolean;

  constructor(until: EndRule, expect: Uint8Array | null, slots: number) {
    this.got = new Float64Array(slots);
    this.framer = createSlotFramer(until, slots);
    this.facts = !(this.framer instanceof RuleSlots);
    this.check = expect ? new ContainsCheck(expect, slots) : null;
    this.sampleBuf = this.check ? Buffer.alloc(slots * SAMPLE) : null;
    this.sampleLen = new Int32Array(this.check ? slots : 0);
    let via = false;
    // --expect is looked for in what the application wrote, as probe and send read it: a text split
    // across two FastCGI records is still found, and record headers never match. One sink a slot, made here.
    if (this.check) for (let i = 0; i < slots; i++) via = this.framer.contentTo(i, { content: (buf, from, to) => this.checkPart(i, buf, from, to) }) || via;
    this.viaFramer = via;
  }

  /** Feed a part of slot i's reply to --expect's check, and keep the first bytes for a MISMATCH's message. */
  private checkPart(i: number, buf: Uint8Array, from: number, to: number): void {
    this.check!.feed(i, buf, from, to);
    const have = this.sampleLen[i];
    if (have >= SAMPLE) return;
    const n = Math.min(to - from, SAMPLE - have);
    const out = this.sampleBuf!;
    for (let k = 0, at = i * SAMPLE + have; k < n; k++) out[at + k] = buf[from + k];
    this.sampleLen[i] = have + n;
  }

  /** Forget slot i's reply so far (its connection is new, or gone). */
  reset(i: number): void {
    this.got[i] = 0;
    if (this.check) {
      this.check.end(i);
      this.sampleLen[i] = 0;
    }
    this.framer.reset(i);
  }

  /**
   * Read `buf[from, to)` of slot i's stream into the current reply. Returns the index just
   * past the reply's end when it ended in that range (then call finish()), else -1, or
   * FRAME_ERROR.
   */
  feed(i: number, buf: Buffer, from: number, to: number): number {
    const end = this.framer.push(i, buf, from, to);
    if (end === FRAME_ERROR) return end;
    const segEnd = end < 0 ? to : end;
    if (this.check && !this.viaFramer) this.checkPart(i, buf, from, segEnd);
    this.got[i] += segEnd - from;
    return end;
  }

  /** Slot i's reply ended: REPLY_OK, REPLY_MISMATCH (no --expect in it), REPLY_FAILED or REPLY_EMPTY; ready for the next. */
  finish(i: number): number {
    const matched = this.check === null || this.check.end(i);
    const empty = this.got[i] === 0;
    this.got[i] = 0;
    if (this.facts && this.framer.failed(i)) return REPLY_FAILED;
    return !matched ? REPLY_MISMATCH : empty ? REPLY_EMPTY : REPLY_OK;
  }

  /** The first bytes of slot i's reply (valid until clearSample()). */
  sample(i: number): string {
    return this.sampleBuf ? decodeKeepingBytes(this.sampleBuf, i * SAMPLE, i * SAMPLE + this.sampleLen[i]) : '';
  }

  /** Clear the sample after finish() (kept apart so a MISMATCH can read it first). */
  clearSample(i: number): void {
    if (this.check) this.sampleLen[i] = 0;
  }
}
