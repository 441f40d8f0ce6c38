/**
 * memcached's text protocol replies: lines until a line that ends a reply
 * (END, STORED, ERROR, VERSION ..., a number, a meta HD/EN/...), skipping the
 * data block after a VALUE or VA line by its byte count. The state is a small
 * fixed head of the current line and a few numbers.
 */
import { FRAME_ERROR, NEED_MORE, type Framer } from './framer.js';

/** Longest reply line (a VALUE line carries a key of at most 250 bytes). */
const MAX_LINE = 8 * 1024;
/** Bytes of a line kept to tell what it is (VALUE key flags bytes: a 250-byte key fits). */
const HEAD = 320;

/** Lines that a further line follows: VALUE (a data block, then more), STAT, ITEM, a metadump's key=. */
const CONTINUES = ['VALUE ', 'STAT ', 'ITEM ', 'key=', 'CONFIG '].map((s) => Buffer.from(s));
const VALUE = CONTINUES[0];
const VA = Buffer.from('VA ');

/**
 * One memcached text reply: lines until a line that ends a reply (END, STORED,
 * ERROR, VERSION ..., a number, a meta HD/EN/...), skipping the data block
 * that follows a VALUE or VA line by its byte count.
 */
export class MemcachedFramer implements Framer {
  readonly byBytes = true;
  readonly status = 0;
  readonly closing = false;
  failed = false;
  private readonly head = new Uint8Array(HEAD);
  private lineLen = 0;
  /** Bytes of a data block (and its \r\n) still to skip; -1: reading lines. */
  private data = -1;
  /** The reply ends after the data block being skipped (meta VA). */
  private endAfterData = false;
  private error = '';

  push(buf: Uint8Array, from: number, to: number): number {
    let i = from;
    while (i < to) {
      if (this.data >= 0) {
        const take = Math.min(this.data, to - i);
        this.data -= take;
        i += take;
        if (this.data > 0) return NEED_MORE;
        this.data = -1;
        if (this.endAfterData) return this.ended(i);
        continue;
      }
      const c = buf[i++];
      if (c !== 0x0a) {
        if (this.lineLen < HEAD) this.head[this.lineLen] = c;
        if (++this.lineLen > MAX_LINE) {
          this.error = `a reply line longer than ${MAX_LINE} bytes`;
          return FRAME_ERROR;
        }
        continue;
      }
      const r = this.lineEnd();
      if (r === FRAME_ERROR) return FRAME_ERROR;
      if (r === 1) return this.ended(i);
    }
    return NEED_MORE;
  }

  /** A line ended: 1 the reply ends here, 0 more follows, FRAME_ERROR. */
  private lineEnd(): number {
    const n = Math.min(this.lineLen, HEAD);
    const line = this.head.subarray(0, n);
    this.lineLen = 0;
    const starts = (p: Buffer) => n >= p.length && p.every((b, k) => line[k] === b);
    if (starts(VALUE) || starts(VA)) {
      const words = Buffer.from(line).toString('latin1').trim().split(' ');
      const size = Number(starts(VA) ? words[1] : words[3]);
      if (!Number.isSafeInteger(size) || size < 0) {
        this.error = `a ${starts(VA) ? 'VA' : 'VALUE'} line without a byte count`;
        return FRAME_ERROR;
      }
      this.data = size + 2;
      this.endAfterData = starts(VA);
      return 0;
    }
    if (CONTINUES.some(starts)) return 0;
    this.failed = /^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(Buffer.from(line.subarray(0, 12)).toString('latin1'));
    return 1;
  }

  private ended(at: number): number {
    this.lineLen = 0;
    this.data = -1;
    this.endAfterData = false;
    return at;
  }

  reset(): void {
    this.ended(0);
    this.failed = false;
    this.error = '';
  }

  endsAtClose(): boolean {
    return false;
  }

  describe(): string {
    if (this.error) return this.error;
    return this.data >= 0 ? `${this.data} bytes of a data block still to come` : 'no line that ends a memcached reply (END, STORED, VERSION, ...)';
  }
}
