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
 * serving the connection. flush() writes what is left (before exiting).
 */
export function lineBuffer(stream: NodeJS.WritableStream): { line(text: string): void; flush(): Promise<void> } {
  let pending = '';
  let scheduled = false;
  const drain = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const text = pending;
    pending = '';
    stream.write(text);
  };
  return {
    line(text: string) {
      pending += text + '\n';
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    flush() {
      const text = pending;
      pending = '';
      return writeAll(stream, text);
    },
  };
}
