/**
 * One line built from pieces, straight into bytes: the same text as the
 * pieces joined, without the joined string (a log line is hot code: a string
 * built of pieces costs its pieces, then a flattened copy, then encoding).
 */
export interface LineWriter {
  /** Bytes as they are (an encoded piece kept between lines). */
  bytes(b: Uint8Array): void;
  /** A number as String(n) writes it (whole numbers without a string). */
  num(n: number): void;
  /** Text as it is: a renderer escapes what a peer sent (escapeText) before it comes here. */
  text(s: string): void;
  /** The newline that ends the line. */
  end(): void;
}

/** Room for the digits of a whole number below 2^53. */
const MAX_DIGITS = 16;

/**
 * Lines encoded straight into 64 KiB buffers. Who writes them out decides
 * when: take() hands over the finished lines; a buffer that fills up goes to
 * `full` at once, up to the last finished line, never in the middle of one.
 */
export class LineBytes implements LineWriter {
  private buf: Buffer | null = null;
  private len = 0; // bytes in buf
  private lineStart = 0; // where the line being built began

  constructor(
    /** Receives a full buffer's finished lines; the buffer is theirs from then on. */
    private readonly full: (lines: Buffer) => void,
    private readonly chunk = 64 * 1024,
  ) {}

  /** Bytes of finished lines waiting to be taken. */
  get waiting(): number {
    return this.lineStart;
  }

  /** Room for n more bytes of the current line; a full buffer goes out up to the line's start. */
  private room(n: number): Buffer {
    const buf = this.buf;
    if (buf && this.len + n <= buf.length) return buf;
    const partial = buf ? buf.subarray(this.lineStart, this.len) : null;
    if (buf && this.lineStart > 0) this.full(buf.subarray(0, this.lineStart));
    const next = Buffer.allocUnsafe(Math.max(this.chunk, (partial?.length ?? 0) + n));
    if (partial) partial.copy(next, 0);
    this.buf = next;
    this.len = partial?.length ?? 0;
    this.lineStart = 0;
    return next;
  }

  bytes(b: Uint8Array): void {
    const n = b.length;
    const buf = this.room(n);
    const at = this.len;
    // The pieces of a line are short: a loop beats set()'s call for them.
    if (n <= 64) for (let k = 0; k < n; k++) buf[at + k] = b[k];
    else buf.set(b, at);
    this.len = at + n;
  }

  num(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n < 2 ** 53)) return this.text(String(n));
    const b = this.room(MAX_DIGITS);
    const at = this.len;
    let digits = 1;
    for (let p = 10; p <= n && digits < MAX_DIGITS; p *= 10) digits++;
    let x = n;
    // Below 2^31 the division is an integer one (| 0); above, a float one.
    for (let k = at + digits - 1; k >= at; k--) {
      const q = x < 0x80000000 ? (x / 10) | 0 : Math.floor(x / 10);
      b[k] = 0x30 + (x - q * 10);
      x = q;
    }
    this.len = at + digits;
  }

  text(s: string): void {
    const b = this.room(s.length * 3); // UTF-8: at most 3 bytes per UTF-16 unit; may move the line (and len)
    this.len += b.write(s, this.len);
  }

  end(): void {
    this.room(1)[this.len++] = 0x0a;
    this.lineStart = this.len;
  }

  /** The finished lines, handed over; what follows them (nothing, between lines) stays. */
  take(): Buffer | null {
    const buf = this.buf;
    if (!buf || this.lineStart === 0) return null;
    const out = buf.subarray(0, this.lineStart);
    this.buf = null;
    this.len = this.lineStart = 0;
    return out;
  }
}
