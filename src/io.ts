/** The streams a command talks to; tests may pass their own. */
export interface Io {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export const processIo = (): Io => ({ stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });

/** Write and wait until the stream took it (so a following exit loses nothing). */
export function writeAll(stream: NodeJS.WritableStream, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (data.length === 0) return resolve();
    stream.write(data, () => resolve());
  });
}
