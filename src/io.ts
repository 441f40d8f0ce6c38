/** The streams a command talks to; tests may pass their own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

/** The process's streams. stdin is a getter: touching process.stdin builds a stream (a cost every start would pay). */
export const processIo = (): Io => ({
  stdout: process.stdout,
  stderr: process.stderr,
  get stdin() {
    return process.stdin;
  },
  env: process.env,
});

/** Write and wait until the stream took it (so a following exit loses nothing). */
export function writeAll(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (data.length === 0) return resolve();
    stream.write(data, () => resolve());
  });
}

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
  text(s: string): void;
  /** The newline that ends the line. */
  end(): void;
}

/** Room for the digits of a whole number below 2^53. */
const MAX_DIGITS = 16;

/**
 * Lines gathered and written once per event-loop turn: a busy server logs
 * thousands of lines a second, and one write(2) per line would cost more than
 * serving the connection. Lines are encoded straight into a buffer; a full
 * buffer goes out at once, never in the middle of a line. flush() writes what
 * is left (before exiting).
 */
export function lineBuffer(stream: NodeJS.WritableStream): LineWriter & { line(text: string): void; flush(): Promise<void> } {
  const CHUNK = 64 * 1024;
  let buf: Buffer | null = null;
  let len = 0; // bytes in buf
  let lineStart = 0; // where the line being built began
  let scheduled = false;
  /** Room for n more bytes of the current line; a full buffer goes out up to the line's start. */
  const room = (n: number): Buffer => {
    if (buf && len + n <= buf.length) return buf;
    const partial = buf ? buf.subarray(lineStart, len) : null;
    if (buf && lineStart > 0) stream.write(buf.subarray(0, lineStart)); // the buffer now belongs to the stream
    const next = Buffer.allocUnsafe(Math.max(CHUNK, (partial?.length ?? 0) + n));
    if (partial) partial.copy(next, 0);
    buf = next;
    len = partial?.length ?? 0;
    lineStart = 0;
    return next;
  };
  /** The finished lines; what follows lineStart (nothing, between lines) stays. */
  const take = (): Buffer | null => {
    if (!buf || lineStart === 0) return null;
    const out = buf.subarray(0, lineStart);
    buf = null;
    len = lineStart = 0;
    return out;
  };
  const drain = () => {
    scheduled = false;
    const out = take();
    if (out) stream.write(out);
  };
  const writer = {
    bytes(b: Uint8Array) {
      room(b.length).set(b, len);
      len += b.length;
    },
    num(n: number) {
      if (!(Number.isInteger(n) && n >= 0 && n < 2 ** 53)) return writer.text(String(n));
      const b = room(MAX_DIGITS);
      let digits = 1;
      for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
      for (let k = len + digits - 1, x = n; k >= len; k--, x = Math.floor(x / 10)) b[k] = 0x30 + (x % 10);
      len += digits;
    },
    text(s: string) {
      const b = room(s.length * 3); // UTF-8: at most 3 bytes per UTF-16 unit; may move the line (and len)
      len += b.write(s, len);
    },
    end() {
      room(1)[len++] = 0x0a;
      lineStart = len;
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    line(text: string) {
      writer.text(text);
      writer.end();
    },
    flush() {
      const out = take();
      return out ? writeAll(stream, out) : Promise.resolve();
    },
  };
  return writer;
}
