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
 * Lines gathered and written once per event-loop turn: a busy server logs
 * thousands of lines a second, and one write(2) per line would cost more than
 * serving the connection. Each line is encoded straight into a buffer (joining
 * strings and encoding the joined text cost several times more, in copies and
 * garbage); a full buffer goes out at once. flush() writes what is left
 * (before exiting).
 */
export function lineBuffer(stream: NodeJS.WritableStream): { line(text: string): void; flush(): Promise<void> } {
  const CHUNK = 64 * 1024;
  let buf: Buffer | null = null;
  let len = 0;
  let scheduled = false;
  /** The bytes so far; the buffer now belongs to the stream (a pipe writes later). */
  const take = (): Buffer => {
    const out = buf!.subarray(0, len);
    buf = null;
    len = 0;
    return out;
  };
  const drain = () => {
    scheduled = false;
    if (len > 0) stream.write(take());
  };
  return {
    line(text: string) {
      const most = text.length * 3 + 1; // UTF-8: at most 3 bytes per UTF-16 unit
      if (buf && len + most > buf.length) stream.write(take());
      buf ??= Buffer.allocUnsafe(Math.max(CHUNK, most));
      len += buf.write(text, len);
      buf[len++] = 0x0a;
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    flush() {
      return len > 0 ? writeAll(stream, take()) : Promise.resolve();
    },
  };
}
